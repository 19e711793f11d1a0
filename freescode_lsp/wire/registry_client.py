"""A client of the registry, shared by both ends: the catalog and live hosts for routers, registration for node gateways.

A registry may be given as several URLs (a list, or one comma-separated string): replicas of one registry.
Each request goes to the first one not resting; one that cannot be reached, answers 5xx or is slow is
skipped within SKIP_AFTER_S (for the registry's own work, a registration, only connecting is hurried) and
rests like a failed node: FIRST_REST_S, doubling with each failure up to MAX_REST_S, or its Retry-After.
When every one is resting, the one back soonest is tried anyway.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from freescode_lsp.errors import FreescodeError
from freescode_lsp.wire import normalize_base_url
from freescode_lsp.wire.http_client import OwnedHttpClient

SKIP_AFTER_S = 1.0
FIRST_REST_S = 3.0
MAX_REST_S = 300.0


class RegistryError(FreescodeError):
    """The registry refused a request or answered something that is not understood."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryUnavailable(RegistryError):
    """The registry could not be reached, timed out or failed (5xx); `retry_after` is its Retry-After, if any."""

    retry_after: float | None = None


def _seconds(value: str | None) -> float | None:
    """A Retry-After in seconds, or None when absent or not a number of seconds."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds <= MAX_REST_S else None


def _message(response: httpx.Response) -> str:
    """The message of the registry's JSON error body, else the start of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return response.text.strip()[:200] or response.reason_phrase


def registry_urls(urls: str | Sequence[str]) -> list[str]:
    """The API bases of a registry given as one URL, a comma-separated string or a list; ValueError when none."""
    parts = urls.split(",") if isinstance(urls, str) else [part for url in urls for part in url.split(",")]
    bases = list(dict.fromkeys(normalize_base_url(part) for part in parts if part.strip()))
    if not bases:
        raise ValueError("no registry URL given")
    return bases


class RegistryClient(OwnedHttpClient):
    """Talks to a registry at one URL or at several replicas; each URL may end in `/v1` or not, with or without a slash."""

    def __init__(
        self,
        url: str | Sequence[str],
        timeout: float = 5.0,
        *,
        token: str | None = None,
        client: httpx.AsyncClient | None = None,
        skip_after_s: float = SKIP_AFTER_S,
    ) -> None:
        self.urls = registry_urls(url)
        self.base_url = self.urls[0]
        self.timeout = timeout
        self.token = token
        self.skip_after_s = skip_after_s
        self._resting: dict[str, tuple[int, float]] = {}
        self._adopt_client(client)

    def resting(self, now: float | None = None) -> dict[str, float]:
        """The registries skipped for now, each with the seconds until it is tried again."""
        now = time.monotonic() if now is None else now
        return {url: until - now for url, (_, until) in self._resting.items() if until > now}

    def _order(self) -> list[str]:
        """The registries to try: those not resting in the given order, then the resting ones, back soonest first."""
        now = time.monotonic()
        resting = self.resting(now)
        ready = [url for url in self.urls if url not in resting]
        return ready + sorted(resting, key=lambda url: resting[url])

    def _rest(self, url: str, retry_after: float | None) -> None:
        failures = self._resting.get(url, (0, 0.0))[0] + 1
        rest = retry_after if retry_after is not None else FIRST_REST_S * 2 ** min(failures - 1, 16)
        self._resting[url] = (failures, time.monotonic() + min(MAX_REST_S, rest))

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None, operator: bool = False) -> Any:
        """Send one request to the first registry that answers and return its JSON answer; errors as RegistryError."""
        headers: dict[str, str] = {}
        if operator:
            if not self.token:
                raise RegistryError(f"{method} {path} needs an operator token; pass token= to RegistryClient")
            headers["Authorization"] = f"Bearer {self.token}"
        order = self._order()
        for index, base in enumerate(order):
            hurry = index < len(order) - 1
            try:
                response = await self._send(base, method, path, body, headers, hurry)
            except RegistryUnavailable as exc:
                self._rest(base, exc.retry_after)
                if not hurry:
                    raise
                continue
            self._resting.pop(base, None)
            self.base_url = base
            return response
        raise AssertionError("a registry client always has a URL")

    async def _send(
        self, base: str, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str], hurry: bool
    ) -> Any:
        """One request to one registry; when another may be tried, a slow one is given up on (a registration may take longer)."""
        timeout = httpx.Timeout(self.timeout)
        if hurry:
            patient = method == "POST" and path == "/nodes"
            timeout = httpx.Timeout(self.timeout if patient else self.skip_after_s, connect=self.skip_after_s)
        url = base + path
        try:
            response = await self._http().request(method, url, json=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailable(f"the registry at {base} timed out: {exc or type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"cannot reach the registry at {base}: {exc}") from exc
        if response.status_code >= 500:
            error = RegistryUnavailable(
                f"the registry at {base} failed ({response.status_code}): {_message(response)}", status=response.status_code
            )
            error.retry_after = _seconds(response.headers.get("retry-after"))
            raise error
        if response.status_code >= 400:
            raise RegistryError(
                f"the registry refused {method} {path} ({response.status_code}): {_message(response)}",
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryError(f"the registry answered {method} {path} with something that is not JSON") from exc

    async def models(self) -> list[dict[str, Any]]:
        """Every catalog model with its `available_hosts`."""
        answer = await self._call("GET", "/models")
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise RegistryError("the registry's model list has no 'data' list")
        return data

    async def model(self, model_id: str) -> dict[str, Any]:
        """One catalog model with its `available_hosts`; RegistryError with status 404 when unknown."""
        answer = await self._call("GET", f"/models/{quote(model_id, safe='/:+')}")
        if not isinstance(answer, dict):
            raise RegistryError(f"the registry's answer about {model_id!r} is not an object")
        return answer

    async def hosts_for(self, model_id: str) -> list[dict[str, Any]]:
        """The hosts serving a model now: url, price_per_1k, context, load, ttft_ms, tokens_per_s, last_seen."""
        hosts = (await self.model(model_id)).get("available_hosts")
        if not isinstance(hosts, list):
            raise RegistryError(f"the registry's answer about {model_id!r} has no 'available_hosts' list")
        return hosts

    async def nodes(self) -> list[dict[str, Any]]:
        """Every registration with its probe state; with a token, why this operator's own probes failed."""
        answer = await self._call("GET", "/nodes", operator=self.token is not None)
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list):
            raise RegistryError("the registry's node list has no 'data' list")
        return data

    async def register(
        self,
        url: str,
        models: Sequence[str],
        price_per_1k: float,
        context: int,
        *,
        operator: str | None = None,
        probe_key: str | None = None,
    ) -> dict[str, Any]:
        """Register a node; the answer has `node_id`, `lease_s` and `heartbeat_interval_s`.

        The registry first asks the node to prove that this client's operator runs it (see
        freescode_lsp.wire.ownership): RegistryError with status 403 when it does not, 429 while too many
        of the operator's registrations are being checked.
        """
        body: dict[str, Any] = {"url": url, "models": list(models), "price_per_1k": price_per_1k, "context": context}
        if operator is not None:
            body["operator"] = operator
        if probe_key is not None:
            body["probe_key"] = probe_key
        answer = await self._call("POST", "/nodes", body, operator=True)
        if not isinstance(answer, dict) or not isinstance(answer.get("node_id"), str):
            raise RegistryError("the registry's answer to a registration has no node_id")
        return answer

    async def heartbeat(
        self,
        node_id: str,
        *,
        load: float | None = None,
        ttft_ms: float | None = None,
        tokens_per_s: float | None = None,
    ) -> dict[str, Any]:
        """Renew a node's lease and report its load and speed; status 404 means register again."""
        body = {
            name: value
            for name, value in (("load", load), ("ttft_ms", ttft_ms), ("tokens_per_s", tokens_per_s))
            if value is not None
        }
        answer = await self._call("POST", f"/nodes/{quote(node_id, safe='')}/heartbeat", body, operator=True)
        return answer if isinstance(answer, dict) else {}

    async def deregister(self, node_id: str) -> None:
        """Remove a node from the registry."""
        await self._call("DELETE", f"/nodes/{quote(node_id, safe='')}", operator=True)

    async def add_model(
        self, model_id: str, context: int, price_per_1k: float | None = None, specialties: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Add a model to the registry's catalog."""
        body = {"id": model_id, "context": context, "price_per_1k": price_per_1k, "specialties": list(specialties)}
        answer = await self._call("POST", "/catalog", body, operator=True)
        return answer if isinstance(answer, dict) else {}
