"""One file of a Hugging Face hub repository downloaded into the models directory, bounded and checked.

The hub's answer to HEAD announces the file's size and its checksum (the sha256 of an LFS file, the git blob
sha1 of a small one). The download writes no byte past the announced size, gives up after an overall deadline,
and renames the file into place only when its checksum matches the hub's and the catalog's pin; a download
that fails leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from attrs import frozen

from freescode_lsp.errors import FreescodeError
from freescode_lsp.models import verified
from freescode_lsp.models.footprint import human_bytes
from freescode_lsp.models.progress import Progress
from freescode_lsp.wire.http_client import tls_context

log = logging.getLogger(__name__)
INSTALL_HINT = "pip install 'freescode-lsp[local]'"
BASE_DEADLINE_S = 300.0
SLOWEST_RATE = 256 * 1024
STALL_S = 30.0
HEAD_TIMEOUT_S = 20.0
SHA256 = re.compile(r"[0-9a-f]{64}")
GIT_SHA1 = re.compile(r"[0-9a-f]{40}")


class DownloadError(FreescodeError):
    """A hub download failed or was refused; the message says why in plain words."""


@frozen
class Published:
    """What the hub says about a file before any byte of it is read."""

    ref: str
    where: str
    url: str
    size: int
    sha256: str | None
    git_sha1: str | None
    same_host: bool


def deadline_for(size: int) -> float:
    """Seconds a download of this size may take in all: a base, plus the size at the slowest acceptable rate."""
    return BASE_DEADLINE_S + size / SLOWEST_RATE


def download(
    repo: str,
    filename: str,
    directory: Path,
    pinned_sha256: str | None = None,
    pinned_size: int | None = None,
    progress: bool = True,
) -> Path:
    """Download `repo:filename` into the directory and return its path; DownloadError with the reason otherwise."""
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or None
    published = _published(repo, filename, directory, endpoint)
    expected = _expected_sha256(published, pinned_sha256, pinned_size)
    target = directory / filename
    if expected is not None and verified.matches(target, expected, published.size):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(_disk_failure(exc, published, directory)) from exc
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    log.warning("downloading %s (%s) from %s into %s", published.ref, human_bytes(published.size), published.where, directory)
    try:
        sha256, git_sha1 = _fetch(published, partial, progress)
        _check(published, sha256, git_sha1, pinned_sha256)
        verified.forget(target)
        os.replace(partial, target)
        verified.record(target, sha256)
    except OSError as exc:
        raise DownloadError(_disk_failure(exc, published, directory)) from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _published(repo: str, filename: str, directory: Path, endpoint: str | None) -> Published:
    """The hub's announcement of the file: where its bytes are, its size and checksum."""
    try:
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    except ImportError as exc:
        raise DownloadError(f"pulling models needs the package huggingface_hub: {INSTALL_HINT}") from exc
    where = endpoint or "the Hugging Face hub"
    ref = f"{repo}:{filename}"
    if constants.HF_HUB_OFFLINE:
        raise DownloadError(
            f"cannot reach {where} to download {ref}; check the network connection, HF_ENDPOINT and HF_HUB_OFFLINE"
        )
    url = hf_hub_url(repo, filename, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, timeout=HEAD_TIMEOUT_S, endpoint=endpoint)
    except Exception as exc:
        raise DownloadError(_hub_failure(exc, repo, filename, directory, endpoint)) from exc
    if metadata.size is None or metadata.size < 0:
        raise DownloadError(f"{where} announces no size for {ref}; refused")
    etag = (metadata.etag or "").lower()
    location = metadata.location or url
    return Published(
        ref=ref,
        where=where,
        url=location,
        size=metadata.size,
        sha256=etag if SHA256.fullmatch(etag) else None,
        git_sha1=etag if GIT_SHA1.fullmatch(etag) else None,
        same_host=urlsplit(location).netloc == urlsplit(url).netloc,
    )


def _expected_sha256(published: Published, pinned_sha256: str | None, pinned_size: int | None) -> str | None:
    """The sha256 the file must have, refusing before any download when the hub and the pin disagree."""
    if pinned_size is not None and published.size != pinned_size:
        raise DownloadError(
            f"{published.where} announces {published.size:,} bytes for {published.ref}, "
            f"but the catalog pins {pinned_size:,}; refused"
        )
    if pinned_sha256 is not None and published.sha256 is not None and published.sha256 != pinned_sha256:
        raise DownloadError(
            f"{published.where} publishes sha256 {published.sha256} for {published.ref}, "
            f"but the catalog pins {pinned_sha256}; refused"
        )
    if pinned_sha256 is None and published.sha256 is None and published.git_sha1 is None:
        raise DownloadError(f"{published.where} publishes no checksum for {published.ref}, so it cannot be checked; refused")
    return pinned_sha256 or published.sha256


def _fetch(published: Published, partial: Path, progress: bool) -> tuple[str, str]:
    """Stream the bytes into the partial file, never past the announced size; their sha256 and git blob sha1."""
    from huggingface_hub import get_token

    headers = {"Accept-Encoding": "identity", "User-Agent": "freescode-lsp"}
    token = get_token()
    if token and published.same_host:
        headers["Authorization"] = f"Bearer {token}"
    limit = deadline_for(published.size)
    deadline = time.monotonic() + limit
    sha256 = hashlib.sha256()
    git_sha1 = hashlib.sha1(f"blob {published.size}\0".encode(), usedforsecurity=False)
    meter = Progress(f"downloading {published.ref}", published.size, progress)
    written = 0
    timeout = httpx.Timeout(STALL_S, connect=HEAD_TIMEOUT_S)
    try:
        with (
            httpx.Client(verify=tls_context(), timeout=timeout, follow_redirects=True, max_redirects=5) as client,
            client.stream("GET", published.url, headers=headers) as response,
            partial.open("wb") as out,
        ):
            _check_answer(published, response)
            for block in response.iter_raw():
                if written + len(block) > published.size:
                    raise DownloadError(
                        f"{published.where} sent more than the {published.size:,} bytes it announced for "
                        f"{published.ref}; stopped and refused"
                    )
                out.write(block)
                sha256.update(block)
                git_sha1.update(block)
                written += len(block)
                meter.update(written)
                if time.monotonic() > deadline:
                    raise DownloadError(_too_slow(published, limit, written))
    except httpx.TimeoutException as exc:
        raise DownloadError(f"{published.where} stopped sending {published.ref} for {STALL_S:.0f} s; try again later") from exc
    except httpx.HTTPError as exc:
        raise DownloadError(f"downloading {published.ref} from {published.where} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        meter.finish()
    if written != published.size:
        raise DownloadError(
            f"{published.where} sent {written:,} of the {published.size:,} bytes it announced for {published.ref}; try again"
        )
    return sha256.hexdigest(), git_sha1.hexdigest()


def _check_answer(published: Published, response: httpx.Response) -> None:
    """Refuse an answer that is not the file's bytes, or that announces another size."""
    if response.status_code != 200:
        raise DownloadError(f"{published.where} answered HTTP {response.status_code} for the bytes of {published.ref}")
    length = response.headers.get("Content-Length")
    if length is not None and length.strip() != str(published.size):
        raise DownloadError(
            f"{published.where} announced {published.size:,} bytes for {published.ref}, "
            f"then sent a body of {length.strip()}; refused"
        )


def _too_slow(published: Published, limit: float, written: int) -> str:
    return (
        f"gave up downloading {published.ref} from {published.where} after {limit:.0f} s "
        f"({written:,} of {published.size:,} bytes): too slow; try again later or from a faster connection"
    )


def _check(published: Published, sha256: str, git_sha1: str, pinned_sha256: str | None) -> None:
    """The downloaded bytes against the hub's checksum and the catalog's pin."""
    if published.sha256 is not None and sha256 != published.sha256:
        raise DownloadError(
            f"{published.ref} from {published.where} has sha256 {sha256}, not the {published.sha256} the hub publishes; refused"
        )
    if published.sha256 is None and published.git_sha1 is not None and git_sha1 != published.git_sha1:
        raise DownloadError(
            f"{published.ref} from {published.where} has git blob sha1 {git_sha1}, not the {published.git_sha1} "
            "the hub publishes; refused"
        )
    if pinned_sha256 is not None and sha256 != pinned_sha256:
        raise DownloadError(
            f"{published.ref} from {published.where} has sha256 {sha256}, not the pinned {pinned_sha256}; refused"
        )


def _disk_failure(exc: OSError, published: Published, directory: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"not enough disk space in {directory} for {published.ref} ({published.size:,} bytes)"
    return f"cannot write {published.ref} into {directory}: {exc.strerror or exc}"


def _hub_failure(exc: BaseException, repo: str, filename: str, directory: Path, endpoint: str | None) -> str:
    """Say in plain words why asking the hub about `repo:filename` failed."""
    from huggingface_hub import errors as hub_errors

    where = endpoint or "the Hugging Face hub"
    ref = f"{repo}:{filename}"
    if isinstance(exc, hub_errors.GatedRepoError):
        return f"{repo} on {where} is gated: accept its terms on the hub, then set HF_TOKEN"
    if isinstance(exc, hub_errors.RepositoryNotFoundError):
        return f"repository {repo} was not found on {where} (if it is private, set HF_TOKEN)"
    if isinstance(exc, hub_errors.RevisionNotFoundError):
        return f"{repo} on {where} has no such revision"
    if isinstance(exc, hub_errors.EntryNotFoundError) and not isinstance(exc, hub_errors.LocalEntryNotFoundError):
        return f"{filename} is not a file of {repo} on {where}"
    http_error = _in_chain(exc, hub_errors.HfHubHTTPError)
    if http_error is not None:
        status = getattr(getattr(http_error, "response", None), "status_code", None)
        if status == 404:
            return f"{ref} was not found on {where} (HTTP 404)"
        return f"{where} refused {ref} (HTTP {status})"
    if isinstance(exc, (hub_errors.LocalEntryNotFoundError, ConnectionError)) or _is_network_error(exc):
        return f"cannot reach {where} to download {ref}; check the network connection, HF_ENDPOINT and HF_HUB_OFFLINE"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"cannot write {filename} into {directory}: {exc.strerror or exc}"
    return f"downloading {ref} from {where} failed: {exc}"


def _is_network_error(exc: BaseException) -> bool:
    """Whether the failure is the connection's (refused, reset, timed out), whichever HTTP library raised it."""
    names = {kind.__name__ for kind in type(exc).__mro__}
    return bool(names & {"ConnectError", "TimeoutException", "NetworkError", "RemoteProtocolError"})


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
