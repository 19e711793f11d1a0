"""Reading files a user points at: regular files only, never more than a limit, never blocking on a pipe."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from freescode_lsp.errors import FreescodeError


class UnreadableFile(FreescodeError, OSError):
    """The file cannot be read as asked; the message says why, in plain words."""


def read_regular(path: Path, limit: int) -> bytes:
    """The whole file, if it is a regular file of at most `limit` bytes; FileNotFoundError when it is missing."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise UnreadableFile(f"cannot be opened ({_why(exc)})") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"is not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise UnreadableFile(f"is {info.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise UnreadableFile(f"grew past the {limit:,}-byte limit while being read")
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise UnreadableFile(f"cannot be read ({_why(exc)})") from exc
    finally:
        os.close(fd)


def is_file(path: Path) -> bool:
    """Path.is_file without the errors a hostile path raises (name too long, NUL byte, no permission)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a pipe",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a plain file")
