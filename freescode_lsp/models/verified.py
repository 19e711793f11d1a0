"""A model file's verified marker: its sha256 was checked once, so later starts compare size and mtime only."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

BLOCK = 1 << 20


def marker_path(target: Path) -> Path:
    """Where the marker of a model file lives: beside it, named after it."""
    return target.with_name(target.name + ".sha256")


def _read(marker: Path) -> dict[str, Any]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(target: Path, sha256: str) -> None:
    """Write the marker: this file, at its size and mtime now, has this sha256."""
    stat = target.stat()
    entry = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    marker_path(target).write_text(json.dumps(entry) + "\n", encoding="utf-8")


def forget(target: Path) -> None:
    """Remove the marker, before the file it vouches for is replaced."""
    marker_path(target).unlink(missing_ok=True)


def recorded_sha256(target: Path) -> str | None:
    """The sha256 the marker vouches for, if the marker still matches the file's size and mtime."""
    try:
        stat = target.stat()
    except OSError:
        return None
    entry = _read(marker_path(target))
    if entry.get("size") != stat.st_size or entry.get("mtime_ns") != stat.st_mtime_ns:
        return None
    sha = entry.get("sha256")
    return sha if isinstance(sha, str) else None


def matches(target: Path, sha256: str, size: int | None = None) -> bool:
    """Whether the marker says the file has this sha256 (and size), without reading the file."""
    if recorded_sha256(target) != sha256:
        return False
    return size is None or target.stat().st_size == size


def sha256_of(path: Path) -> str:
    """The sha256 of a whole file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
