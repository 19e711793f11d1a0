"""The network section of `freescode doctor`, which `:checkhealth freescode` shows too: each configured node and
the registry asked for the model list the client reads, with the key the client sends.

Nothing on the other side is trusted: redirects are reported, not followed; at most MAX_ANSWER_BYTES of an
answer are read; each probe has its own deadline and the whole section one more; only an OpenAI model list
(`{"object": "list", "data": [{"id": ...}, ...]}`) counts as an answer. In `local-only` mode nothing is contacted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from attrs import define

from freescode_lsp.config import Settings
from freescode_lsp.config.values import SHOWN_CHARS, shown
from freescode_lsp.doctor.check import Check, Status
from freescode_lsp.errors import FreescodeError
from freescode_lsp.wire.http_client import tls_context

PROBE_DEADLINE_S = 5.0
SECTION_DEADLINE_S = 15.0
MAX_ANSWER_BYTES = 256 * 1024
PROBES_AT_ONCE = 8
SHOWN_IDS = 6
SERVICE_TODO = "Check the URL and that the service runs; tasks fall back to other hosts meanwhile."
API_TODO = "Check that the URL names an OpenAI-compatible node (llama.cpp, vLLM, Ollama, freescode node serve) or the registry."
LIST_SHAPE = '{"object": "list", "data": [{"id": ...}, ...]}'


@define(frozen=True)
class Target:
    """One service to ask: its name in the report, the URL the user wrote, the model list the client reads, and
    the key the client sends (with where that key comes from, to say what to fix when it is refused)."""

    name: str
    url: str
    models_url: str
    api_key: str | None = None
    key_source: str = ""
    missing_key_env: str | None = None
    registry: bool = False

    @property
    def request(self) -> str:
        """The request the client makes, for messages: `GET /v1/models`."""
        return f"GET {httpx.URL(self.models_url).path}"


class Unusable(FreescodeError):
    """The service answered, but not with a model list the client can use; the message says what it did."""

    def __init__(self, detail: str, todo: str = SERVICE_TODO) -> None:
        super().__init__(detail)
        self.detail = detail
        self.todo = todo


def targets_of(settings: Settings) -> list[Target]:
    """Each configured node and the registry, addressed and keyed exactly as the client's engines do."""
    from freescode_lsp.engines.remote import RemoteEngine
    from freescode_lsp.wire.registry_client import registry_urls

    targets = []
    for node in settings.nodes:
        engine = RemoteEngine.from_settings(node, settings.network)
        source = "api_key" if node.api_key is not None else f"${node.api_key_env}" if node.api_key_env else ""
        missing = node.api_key_env if node.api_key is None and node.api_key_env and not engine.api_key else None
        targets.append(
            Target(f"node {node.name or node.url}", str(node.url), engine.base_url + "/models", engine.api_key, source, missing)
        )
    if settings.network.registry:
        bases = registry_urls(settings.network.registry)
        for base in bases:
            label = "registry" if len(bases) == 1 else f"registry {base}"
            targets.append(Target(label, base, base + "/models", registry=True))
    return targets


async def network_checks(
    settings: Settings, *, probe_s: float = PROBE_DEADLINE_S, section_s: float = SECTION_DEADLINE_S
) -> list[Check]:
    """Whether each configured node and the registry answer with a model list, all asked at once, within deadlines."""
    mode = settings.network.mode
    targets = targets_of(settings)
    if mode == "local-only":
        skipped = f"{_configured(targets)} not contacted" if targets else "nothing to contact"
        return [_check("network", "ok", f"mode local-only: {skipped}; tasks run on this machine")]
    if not targets:
        if mode == "remote-only":
            todo = "Add a [[nodes]] entry or a [network] registry, or choose another network.mode."
            return [_check("network", "warn", "mode remote-only, but no nodes or registry are configured", todo)]
        return [_check("network", "ok", f"mode {mode}; no nodes or registry configured")]
    connect_s = min(settings.network.connect_timeout_s, probe_s)
    limit = asyncio.Semaphore(PROBES_AT_ONCE)
    timeout = httpx.Timeout(probe_s, connect=connect_s)
    async with httpx.AsyncClient(verify=tls_context(), follow_redirects=False, timeout=timeout) as client:
        tasks = [asyncio.create_task(_probe_when_free(limit, client, target, probe_s)) for target in targets]
        done, pending = await asyncio.wait(tasks, timeout=section_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    late = f"not checked: the network section's {section_s:g} s were over before its turn"
    return [
        task.result() if task in done else _check(target.name, "warn", late, "Run freescode doctor again.")
        for task, target in zip(tasks, targets, strict=True)
    ]


def silent_nodes(settings: Settings, checks: list[Check]) -> set[str]:
    """The URLs of configured nodes whose check (from `network_checks`, in the same order) did not pass."""
    targets = targets_of(settings)
    if settings.network.mode == "local-only" or len(checks) != len(targets):
        return set()
    return {target.url for target, check in zip(targets, checks, strict=True) if not target.registry and check.status != "ok"}


def _configured(targets: list[Target]) -> str:
    nodes = sum(not target.registry for target in targets)
    registry = any(target.registry for target in targets)
    named = [f"{nodes} configured node{'s' if nodes != 1 else ''}"] if nodes else []
    if registry:
        named.append("the registry")
    return " and ".join(named)


async def _probe_when_free(limit: asyncio.Semaphore, client: httpx.AsyncClient, target: Target, probe_s: float) -> Check:
    async with limit:
        return await probe(client, target, probe_s)


async def probe(client: httpx.AsyncClient, target: Target, probe_s: float = PROBE_DEADLINE_S) -> Check:
    """Ask one service for its model list, within `probe_s` from the first byte sent to the last one read."""
    try:
        async with asyncio.timeout(probe_s):
            answer = await _model_list(client, target)
    except (TimeoutError, httpx.TimeoutException):
        return _check(target.name, "fail", f"{target.url} did not answer within {probe_s:g} s", SERVICE_TODO)
    except httpx.HTTPError as exc:
        return _check(target.name, "fail", f"{target.url} does not answer: {type(exc).__name__} {exc}".strip(), SERVICE_TODO)
    except Unusable as exc:
        return _check(target.name, "fail", f"{target.url} {exc.detail}", exc.todo)
    return _check(target.name, "ok", f"{target.url} answers: {_summary(answer, target)}")


async def _model_list(client: httpx.AsyncClient, target: Target) -> list[dict[str, Any]]:
    """The items of the service's OpenAI model list; Unusable when the answer is anything else."""
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    if target.api_key:
        headers["Authorization"] = f"Bearer {target.api_key}"
    async with client.stream("GET", target.models_url, headers=headers) as response:
        _check_status(response, target)
        body = await _read_at_most(response, MAX_ANSWER_BYTES, target)
    return _items(body, target)


def _check_status(response: httpx.Response, target: Target) -> None:
    """Refuse a redirect, a refused key and any status but 200, saying what to do about each."""
    status = response.status_code
    if response.is_redirect:
        where = plain(response.headers.get("location", ""))
        raise Unusable(
            f"answered {status} with a redirect to {where}; the client does not follow redirects",
            "Write the address it redirects to in the config, if it is the service you mean.",
        )
    if status in (401, 403):
        raise Unusable(*_refused(status, target))
    if status != 200:
        raise Unusable(f"answered {status} to {target.request}", SERVICE_TODO)


def _refused(status: int, target: Target) -> tuple[str, str]:
    """What a 401 or 403 means for this target's key, and what to do."""
    if target.registry:
        return f"answered {status}: routers read its model list without a key", "Check the registry URL."
    if target.missing_key_env:
        return (
            f"answered {status}; api_key_env names {target.missing_key_env}, which is not set here",
            f"Set {target.missing_key_env} in the environment the editor and the server start from.",
        )
    if target.api_key:
        return f"answered {status}: it refused the key from {target.key_source}", "Check the key with the node's operator."
    return f"answered {status}: it needs a key", "Set api_key_env (or api_key) for this node in [[nodes]]."


async def _read_at_most(response: httpx.Response, limit: int, target: Target) -> bytes:
    """The body as sent (no decompression), refused as soon as it is longer than `limit` bytes."""
    too_long = Unusable(f"answered more than {limit // 1024} KiB to {target.request}; a model list is far smaller", API_TODO)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_long
    body = bytearray()
    async for part in response.aiter_raw():
        body += part
        if len(body) > limit:
            raise too_long
    return bytes(body)


def _items(body: bytes, target: Target) -> list[dict[str, Any]]:
    """The entries of an OpenAI model list, each with a string id; Unusable for anything else."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        raise Unusable(f"answered {target.request} with something that is not JSON", API_TODO) from None
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or answer.get("object", "list") != "list":
        raise Unusable(f"answered {target.request} with JSON that is not an OpenAI model list ({LIST_SHAPE})", API_TODO)
    if not all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in data):
        raise Unusable(f"answered {target.request} with a model list whose entries lack a string id", API_TODO)
    return data


def _summary(items: list[dict[str, Any]], target: Target) -> str:
    """The model list in a few words: how many, the first ids, and for a registry how many have hosts now."""
    ids = ", ".join(plain(item["id"]) for item in items[:SHOWN_IDS]) + (", ..." if len(items) > SHOWN_IDS else "")
    count = f"{len(items)} model{'s' if len(items) != 1 else ''}"
    if target.registry:
        hosted = sum(bool(item.get("available_hosts")) for item in items)
        return f"{count} in its catalog, {hosted} with hosts now"
    return f"{count} ({ids})" if items else "an empty model list"


def plain(text: str) -> str:
    """A string the other side sent, as a report may print it: as is when short and printable, else escaped."""
    return text if text.isprintable() and len(text) <= SHOWN_CHARS else shown(text)


def _check(name: str, status: Status, detail: str, todo: str = "") -> Check:
    return Check(name, status, detail, todo, section="network")
