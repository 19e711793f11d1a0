"""Writing a file the CLI changed, only if nobody changed it while the model worked."""

from __future__ import annotations

import sys
from pathlib import Path

from freescode_lsp.system.files import UnreadableFile, read_regular


def fail(message: str, code: int = 1) -> int:
    """Say what went wrong on stderr, in the CLI's voice, and return the exit code."""
    print(f"freescode: {message}", file=sys.stderr)
    return code


def write_if_unchanged(path: Path, raw_bytes: bytes, new_text: str, note: str | None = None) -> int:
    """Write the new text, unless the file changed since it was read as `raw_bytes`."""
    try:
        now: bytes | None = read_regular(path, len(raw_bytes))
    except UnreadableFile:
        now = None
    except OSError as exc:
        return fail(f"cannot read {path} again: {exc.strerror or exc}; not applied")
    if now != raw_bytes:
        return fail(f"{path} changed while the model was working; not applied")
    try:
        path.write_bytes(new_text.encode("utf-8"))
    except OSError as exc:
        return fail(f"cannot write {path}: {exc.strerror or exc}")
    suffix = f" ({note})" if note is not None else ""
    print(f"freescode: applied to {path}{suffix}", file=sys.stderr)
    return 0
