"""One probe of one node: its model list and health, within one deadline and a byte cap, at an allowed address."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable

import httpx

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import (
    IP,
    AddressError,
    AddressPolicy,
    NodeUrl,
    Resolver,
    allowed_addresses,
    parse_node_url,
)
from freescode_lsp.mesh.registry.records import ProbeResult

REGISTRY_HEADER = "x-freescode-registry"
MAX_ANSWER_BYTES = 1024 * 1024


class ProbeFailed(FreescodeError):
    """A probe found the node unusable; the message is short and names nothing the node sent."""


async def probe_node(
    url: str,
    claimed: Iterable[str],
    probe_key: str | None,
    *,
    policy: AddressPolicy,
    resolver: Resolver,
    client: httpx.AsyncClient,
    timeout_s: float,
) -> ProbeResult:
    """Which claimed models the node serves and whether it is healthy, all within timeout_s."""
    try:
        async with asyncio.timeout(timeout_s):
            node = parse_node_url(url)
            address = (await allowed_addresses(node, policy, resolver, timeout_s))[0]
            listed = await _model_ids(node, address, probe_key, client)
            await _health(node, address, probe_key, client)
    except TimeoutError:
        return ProbeResult(False, (), f"no complete answer within {timeout_s:g} s")
    except AddressError as exc:
        return ProbeResult(False, (), f"not probed: {exc}")
    except ProbeFailed as exc:
        return ProbeResult(False, (), str(exc))
    except httpx.ConnectError:
        return ProbeResult(False, (), "cannot connect")
    except (httpx.TransportError, OSError) as exc:
        return ProbeResult(False, (), f"the connection failed ({type(exc).__name__})")
    served = set(listed)
    return ProbeResult(True, tuple(model for model in claimed if model in served))


async def _get(node: NodeUrl, address: IP, path: str, probe_key: str | None, client: httpx.AsyncClient) -> bytes:
    """GET a path of the node at one address; the status checked, at most MAX_ANSWER_BYTES of body read."""
    headers = {"Host": node.host_header, "Accept-Encoding": "identity", "Accept": "application/json"}
    if probe_key:
        headers["Authorization"] = f"Bearer {probe_key}"
    extensions = {"sni_hostname": node.hostname} if node.scheme == "https" and node.ip is None else {}
    request = client.build_request("GET", node.at(address, path), headers=headers, extensions=extensions)
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
            if len(body) > MAX_ANSWER_BYTES:
                raise ProbeFailed(f"GET {path} answered more than {MAX_ANSWER_BYTES // 1024} KiB")
        return bytes(body)
    finally:
        await response.aclose()


async def _model_ids(node: NodeUrl, address: IP, probe_key: str | None, client: httpx.AsyncClient) -> list[str]:
    """The ids in the node's OpenAI model list."""
    body = await _get(node, address, "/v1/models", probe_key, client)
    try:
        data = json.loads(body)["data"]
        return [str(item["id"]) for item in data]
    except (ValueError, KeyError, TypeError, IndexError, RecursionError):
        raise ProbeFailed("GET /v1/models did not answer an OpenAI model list") from None


async def _health(node: NodeUrl, address: IP, probe_key: str | None, client: httpx.AsyncClient) -> None:
    """Check /health; a node without one (404, 405) is judged by its model list alone."""
    await _get(node, address, "/health", probe_key, client)
