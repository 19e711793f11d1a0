"""Probing registered nodes for their models and health, and purging long-silent ones."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Awaitable

import httpx
from attrs import define

from freescode_lsp.engines.remote import RemoteEngine, RemoteEngineError
from freescode_lsp.mesh.registry_records import Node, ProbeResult
from freescode_lsp.mesh.registry_store import RegistryStore


@define(frozen=True)
class RegistrySettings:
    """How long leases last, how often nodes are probed, and when silent nodes are forgotten."""

    lease_s: float = 30.0
    probe_interval_s: float = 10.0
    probe_timeout_s: float = 3.0
    purge_after_s: float = 3600.0


async def probe_node(url: str, probe_key: str | None, timeout_s: float, client: httpx.AsyncClient) -> ProbeResult:
    """Ask a node for its model list and its health."""
    engine = RemoteEngine(
        url, probe_key, connect_timeout_s=timeout_s, chunk_gap_timeout_s=timeout_s, client=client
    )
    try:
        served = await engine.list_models()
    except RemoteEngineError as exc:
        return ProbeResult(False, (), f"GET /v1/models failed: {exc}")
    if not await engine.health():
        return ProbeResult(False, tuple(served), "the health check failed")
    return ProbeResult(True, tuple(served))


class Prober:
    """Probes each node when it registers and every probe interval, and purges long-silent nodes."""

    def __init__(self, store: RegistryStore, settings: RegistrySettings, concurrency: int = 16) -> None:
        self.store = store
        self.settings = settings
        self._limit = asyncio.Semaphore(concurrency)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client and start the periodic loop."""
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._spawn(self._loop())

    async def stop(self) -> None:
        """Cancel every probe and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def probe_soon(self, node_id: str) -> None:
        """Probe one node in the background now."""
        self._spawn(self._probe_id(node_id))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_all()
            except (sqlite3.Error, OSError) as exc:
                print(f"freescode registry: probing failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(self.settings.probe_interval_s)

    async def probe_all(self) -> None:
        """Purge long-silent nodes, then probe every live one at once (bounded)."""
        settings = self.settings
        now = time.time()
        await asyncio.to_thread(self.store.purge, now - max(settings.purge_after_s, settings.lease_s))
        nodes = await asyncio.to_thread(self.store.nodes)
        live = [node for node in nodes if node.live(now, settings.lease_s)]
        await asyncio.gather(*(self._probe(node) for node in live))

    async def _probe_id(self, node_id: str) -> None:
        node = await asyncio.to_thread(self.store.node, node_id)
        if node is not None:
            await self._probe(node)

    async def _probe(self, node: Node) -> None:
        assert self._client is not None
        async with self._limit:
            try:
                result = await probe_node(node.url, node.probe_key, self.settings.probe_timeout_s, self._client)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                result = ProbeResult(False, (), f"probe failed: {type(exc).__name__}: {exc}")
        await asyncio.to_thread(self.store.record_probe, node.node_id, node.revision, result, time.time())
