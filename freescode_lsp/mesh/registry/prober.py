"""Probing registered nodes for who runs them, their models and health, and purging long-silent ones.

Each node is probed on its own: a slow node holds one slot for at most probe_timeout_s, one operator's
probes take at most PER_OPERATOR of the CONCURRENCY slots, and no round waits for the slowest node. The
ownership challenges of registrations share those slots; an operator with PER_OPERATOR challenges under
way is told to come back rather than queued.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from attrs import define, field

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import (
    AddressPolicy,
    NodeUrl,
    Resolver,
    system_resolver,
)
from freescode_lsp.mesh.registry.probe import challenge, probe_node
from freescode_lsp.mesh.registry.records import Node
from freescode_lsp.mesh.registry.special_addresses import IP
from freescode_lsp.mesh.registry.store import RegistryStore

OwnershipKeys = Callable[[str], list[bytes]]

CONCURRENCY = 16
PER_OPERATOR = 4
MIN_GAP_S = 1.0


@define(frozen=True)
class RegistrySettings:
    """Leases, probing, purging, how many nodes an operator may list, which addresses are probed, HTTP timeouts."""

    lease_s: float = 30.0
    probe_interval_s: float = 10.0
    probe_timeout_s: float = 3.0
    purge_after_s: float = 3600.0
    max_nodes_per_operator: int = 16
    addresses: AddressPolicy = field(factory=AddressPolicy)
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0


class ChallengesBusy(FreescodeError):
    """The operator already has PER_OPERATOR ownership challenges under way."""


class Prober:
    """Probes each node when it registers and every probe interval, and purges long-silent nodes."""

    def __init__(
        self,
        store: RegistryStore,
        settings: RegistrySettings,
        keys: OwnershipKeys,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.store = store
        self.settings = settings
        self.keys = keys
        self.resolver = resolver
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._operators: dict[str, asyncio.Semaphore] = {}
        self._challenges: dict[str, asyncio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()
        self._started: dict[str, float] = {}

    async def start(self) -> None:
        """Open the HTTP client and start the periodic loop."""
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=self.settings.probe_timeout_s,
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0),
            trust_env=False,
        )
        self._spawn(self._loop())

    async def stop(self) -> None:
        """Cancel every probe and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    async def prove(self, node: NodeUrl, address: IP, owner: str) -> str | None:
        """Why the node at this checked address did not prove that `owner` runs it, or None; ChallengesBusy when too many wait."""
        assert self._client is not None, "the prober is not running"
        checks = self._challenges.setdefault(owner, asyncio.Semaphore(PER_OPERATOR))
        if checks.locked():
            raise ChallengesBusy(f"operator {owner!r} already has {PER_OPERATOR} registrations being checked; retry shortly")
        async with checks, self._slots:
            return await challenge(node, address, self.keys(owner), client=self._client, timeout_s=self.settings.probe_timeout_s)

    def probe_soon(self, node_id: str) -> None:
        """Probe one node in the background now, or once more after the probe already under way."""
        if node_id in self._running:
            self._again.add(node_id)
            return
        self._running.add(node_id)
        self._spawn(self._probe_id(node_id))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_all()
            except Exception as exc:
                print(f"freescode registry: probing failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(self.settings.probe_interval_s)

    async def probe_all(self) -> None:
        """Purge long-silent nodes, then start a probe of every live node not being probed already."""
        settings = self.settings
        now = time.time()
        await asyncio.to_thread(self.store.purge, now - max(settings.purge_after_s, settings.lease_s))
        nodes = await asyncio.to_thread(self.store.nodes)
        live = [node.node_id for node in nodes if node.live(now, settings.lease_s)]
        keep = set(live) | self._running
        self._started = {node_id: at for node_id, at in self._started.items() if node_id in keep}
        for node_id in live:
            if node_id not in self._running:
                self._running.add(node_id)
                self._spawn(self._probe_id(node_id))

    async def _probe_id(self, node_id: str) -> None:
        """Probe a node, again if asked meanwhile, never starting twice within MIN_GAP_S."""
        try:
            while True:
                self._again.discard(node_id)
                gap = self._started.get(node_id, -math.inf) + min(MIN_GAP_S, self.settings.probe_interval_s)
                await asyncio.sleep(max(0.0, gap - time.monotonic()))
                node = await asyncio.to_thread(self.store.node, node_id)
                if node is None:
                    return
                await self._probe(node)
                if node_id not in self._again:
                    return
        except Exception as exc:
            print(f"freescode registry: probing {node_id} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            self._running.discard(node_id)

    async def _probe(self, node: Node) -> None:
        assert self._client is not None
        operator = self._operators.setdefault(node.owner, asyncio.Semaphore(PER_OPERATOR))
        async with operator, self._slots:
            self._started[node.node_id] = time.monotonic()
            result = await probe_node(
                node.url,
                node.models,
                node.probe_key,
                ownership_keys=self.keys(node.owner),
                policy=self.settings.addresses,
                resolver=self.resolver,
                client=self._client,
                timeout_s=self.settings.probe_timeout_s,
            )
        await asyncio.to_thread(self.store.record_probe, node.node_id, node.revision, result, time.time())
