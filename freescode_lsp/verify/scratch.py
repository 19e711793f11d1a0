"""A scratch copy of a workspace for one check: real copies, never links, so nothing a check writes reaches the user.

Links would be faster, but a check that writes through a hard link or a symlinked folder writes into the user's
tree; so every file is copied, bounded in count and bytes, and folders that hold environments, caches or history
(virtualenvs, `.git`, `node_modules`, caches) are left out. The candidate's file is written fresh.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from attrs import frozen

from freescode_lsp.errors import FreescodeError

SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "build",
        "dist",
    }
)
ENVIRONMENT_FOLDERS = {
    "TMPDIR": "tmp",
    "TEMP": "tmp",
    "TMP": "tmp",
    "XDG_CACHE_HOME": "cache",
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_STATE_HOME": "state",
    "PYTHONPYCACHEPREFIX": "pycache",
    "MYPY_CACHE_DIR": "mypy-cache",
    "RUFF_CACHE_DIR": "ruff-cache",
}
PRIVATE_FOLDERS = sorted(set(ENVIRONMENT_FOLDERS.values()))
MAX_FILES = 20_000
MAX_BYTES = 200_000_000
MAX_FILE_BYTES = 20_000_000


class WorkspaceTooLarge(FreescodeError):
    """The workspace is too big to copy for a check."""


@frozen
class Scratch:
    """A scratch copy: its root, where the changed file sits in it, and private temp, home and cache folders."""

    root: Path
    file: Path
    private: Path

    def environment(self) -> dict[str, str]:
        """The environment a check runs with: the user's, with temp, caches and bytecode pointed into the scratch."""
        env = dict(os.environ)
        for name, folder in ENVIRONMENT_FOLDERS.items():
            env[name] = str(self.private / folder)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTEST_ADDOPTS", None)
        return env


def _walk(workspace: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every regular file of the workspace to copy, skipped folders and links left out."""
    for folder, dirs, files in os.walk(workspace, followlinks=False):
        dirs[:] = sorted(name for name in dirs if name not in SKIPPED_DIRS and not name.endswith(".egg-info"))
        for name in sorted(files):
            path = Path(folder, name)
            info = path.lstat()
            if path.is_symlink() or not path.is_file():
                continue
            yield path, info


def copy_workspace(workspace: Path, target: Path) -> None:
    """Copy the workspace's regular files under target, within MAX_FILES and MAX_BYTES."""
    count = total = 0
    for path, info in _walk(workspace):
        if info.st_size > MAX_FILE_BYTES:
            continue
        count += 1
        total += info.st_size
        if count > MAX_FILES or total > MAX_BYTES:
            raise WorkspaceTooLarge(
                f"{workspace} has more than {MAX_FILES:,} files or {MAX_BYTES // 1_000_000} MB to copy for a check"
            )
        destination = target / path.relative_to(workspace)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
        destination.chmod(info.st_mode & 0o777 | 0o200)


def make_scratch(base: Path, workspace: Path, relative_file: Path, new_text: str) -> Scratch:
    """Fill `base` with a copy of the workspace holding the file's new text, and the private folders."""
    root = base / "workspace"
    private = base / "private"
    root.mkdir()
    for name in PRIVATE_FOLDERS:
        (private / name).mkdir(parents=True)
    copy_workspace(workspace, root)
    changed = root / relative_file
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text(new_text, encoding="utf-8")
    return Scratch(root, changed, private)


@asynccontextmanager
async def scratch_copy(workspace: Path, relative_file: Path, new_text: str) -> AsyncIterator[Scratch]:
    """A scratch copy of the workspace with the file's new text, copied off the event loop, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="freescode-verify-"))
    try:
        yield await asyncio.to_thread(make_scratch, base, workspace, relative_file, new_text)
    finally:
        await asyncio.shield(asyncio.to_thread(shutil.rmtree, base, True))
