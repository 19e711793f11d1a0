"""One probe of one node: who runs it, its model list and health, within one deadline and byte caps, at an allowed address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping

import httpx

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    AddressPolicy,
    NodeUrl,
    Resolver,
    allowed_addresses,
    parse_node_url,
)
from freescode_lsp.mesh.registry.records import ProbeResult
from freescode_lsp.mesh.registry.special_addresses import IP
from freescode_lsp.wire.ownership import OWNERSHIP_PATH, new_nonce, proves

REGISTRY_HEADER = "x-freescode-registry"
MAX_ANSWER_BYTES = 1024 * 1024
MAX_PROOF_BYTES = 4096


class ProbeFailed(FreescodeError):
    """A probe found the node unusable; the message is short and names nothing the node sent."""


async def probe_node(
    url: str,
    claimed: Iterable[str],
    probe_key: str | None,
    *,
    ownership_keys: list[bytes],
    policy: AddressPolicy,
    resolver: Resolver,
    client: httpx.AsyncClient,
    timeout_s: float,
) -> ProbeResult:
    """Which claimed models the node serves, whether it is healthy and still proves its operator runs it, within timeout_s."""
    try:
        async with asyncio.timeout(timeout_s):
            node = parse_node_url(url)
            address = (await allowed_addresses(node, policy, resolver, timeout_s))[0]
            await _prove(node, address, ownership_keys, client)
            listed = await _model_ids(node, address, probe_key, client)
            await _health(node, address, probe_key, client)
    except (TimeoutError, AddressError, ProbeFailed, httpx.TransportError, OSError) as exc:
        return ProbeResult(False, (), failure(exc, timeout_s))
    served = set(listed)
    return ProbeResult(True, tuple(model for model in claimed if model in served))


async def challenge(node: NodeUrl, address: IP, keys: list[bytes], *, client: httpx.AsyncClient, timeout_s: float) -> str | None:
    """Why the node at this (checked) address did not prove that the operator holding `keys` runs it; None when it did."""
    try:
        async with asyncio.timeout(timeout_s):
            await _prove(node, address, keys, client)
    except (TimeoutError, ProbeFailed, httpx.TransportError, OSError) as exc:
        return failure(exc, timeout_s)
    return None


def failure(exc: BaseException, timeout_s: float) -> str:
    """A probe's or challenge's failure in a few words that quote nothing the node sent."""
    if isinstance(exc, TimeoutError):
        return f"no complete answer within {timeout_s:g} s"
    if isinstance(exc, AddressError):
        return f"not probed: {exc}"
    if isinstance(exc, ProbeFailed):
        return str(exc)
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return f"the connection failed ({type(exc).__name__})"


async def fetch(
    node: NodeUrl,
    address: IP,
    path: str,
    client: httpx.AsyncClient,
    *,
    probe_key: str | None = None,
    params: Mapping[str, str] | None = None,
    limit: int = MAX_ANSWER_BYTES,
) -> bytes:
    """GET a path of the node at one address; the status checked, at most `limit` bytes of body read."""
    headers = {"Host": node.host_header, "Accept-Encoding": "identity", "Accept": "application/json"}
    if probe_key:
        headers["Authorization"] = f"Bearer {probe_key}"
    extensions = {"sni_hostname": node.hostname} if node.scheme == "https" and node.ip is None else {}
    request = client.build_request("GET", node.at(address, path), params=params, headers=headers, extensions=extensions)
    response = await client.send(request, stream=True)
    try:
        if REGISTRY_HEADER in response.headers:
            raise ProbeFailed("the URL is a registry, not a node")
        if response.status_code in (404, 405) and path == "/health":
            return b""
        if response.status_code != 200:
            raise ProbeFailed(f"GET {path} answered {response.status_code}")
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > limit:
                raise ProbeFailed(f"GET {path} answered more than {_size(limit)}")
        return bytes(body)
    finally:
        await response.aclose()


def _size(limit: int) -> str:
    return f"{limit // 1024} KiB" if limit >= 1024 else f"{limit} bytes"


async def _prove(node: NodeUrl, address: IP, keys: list[bytes], client: httpx.AsyncClient) -> None:
    """Challenge the node with a fresh nonce; ProbeFailed unless it answers a proof made with one of `keys`."""
    if not keys:
        raise ProbeFailed("no token of the node's operator is accepted by this registry any more")
    nonce = new_nonce()
    endpoint = str(node)
    challenge = {"nonce": nonce, "endpoint": endpoint}
    body = await fetch(node, address, OWNERSHIP_PATH, client, params=challenge, limit=MAX_PROOF_BYTES)
    try:
        answer = json.loads(body)["proof"]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise ProbeFailed(f"GET {OWNERSHIP_PATH} did not answer a proof") from None
    if not isinstance(answer, str) or not proves(keys, nonce, endpoint, answer):
        raise ProbeFailed("the node's ownership proof was not made with its operator's token")


async def _model_ids(node: NodeUrl, address: IP, probe_key: str | None, client: httpx.AsyncClient) -> list[str]:
    """The ids in the node's OpenAI model list."""
    body = await fetch(node, address, "/v1/models", client, probe_key=probe_key)
    try:
        data = json.loads(body)["data"]
        return [str(item["id"]) for item in data]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise ProbeFailed("GET /v1/models did not answer an OpenAI model list") from None


async def _health(node: NodeUrl, address: IP, probe_key: str | None, client: httpx.AsyncClient) -> None:
    """Check /health; a node without one (404, 405) is judged by its model list alone."""
    await fetch(node, address, "/health", client, probe_key=probe_key)
