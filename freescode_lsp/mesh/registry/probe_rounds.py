"""Probing registered nodes for who runs them, their models and health, and purging long-silent ones.

Probing is shared by every replica on one database: a replica leases the nodes that are due (the store hands
different nodes to replicas claiming at once), probes each, and makes it due again one probe interval after
the probe ended, so each node is probed at most once per interval whatever the number of replicas (and however
long a busy machine kept the probe from sending its first request). A lease runs
out after LEASE_TIMEOUTS probe timeouts and a second, so the nodes of a replica that dies mid-probe are
claimed by the others; a replica that stops gives its leases back.

Each node is probed on its own: a slow node holds one slot for at most probe_timeout_s, one operator's
probes take at most PER_OPERATOR of a replica's CONCURRENCY slots, and no round waits for the slowest node.
The ownership challenges of registrations share those slots; an operator with PER_OPERATOR challenges under
way is told to come back rather than queued.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import ssl
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
from freescode_lsp.mesh.registry.node_probe import challenge, probe_node
from freescode_lsp.mesh.registry.records import Node
from freescode_lsp.mesh.registry.special_addresses import IP
from freescode_lsp.mesh.registry.store import ProbeRecord, RegistryStore
from freescode_lsp.mesh.registry.write_batches import WriteBatcher

OwnershipKeys = Callable[[str], list[bytes]]

CONCURRENCY = 16
PER_OPERATOR = 4
TICK_S = 0.5
LEASE_TIMEOUTS = 2


@define(frozen=True)
class RegistrySettings:
    """Leases, probing, purging, how many nodes an operator may list, which addresses are probed, HTTP timeouts, listing age."""

    lease_s: float = 30.0
    probe_interval_s: float = 10.0
    probe_timeout_s: float = 3.0
    purge_after_s: float = 3600.0
    max_nodes_per_operator: int = 16
    addresses: AddressPolicy = field(factory=AddressPolicy)
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    listing_max_age_s: float = 1.0


class ChallengesBusy(FreescodeError):
    """The operator already has PER_OPERATOR ownership challenges under way."""


class Prober:
    """Probes the nodes this replica leases: each as soon as it registers and every probe interval; purges long-silent ones."""

    def __init__(
        self,
        store: RegistryStore,
        settings: RegistrySettings,
        keys: OwnershipKeys,
        resolver: Resolver = system_resolver,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.keys = keys
        self.resolver = resolver
        self.changed = changed
        self.replica = secrets.token_hex(6)
        self.probes = 0
        self._claims = itertools.count()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._operators: dict[str, asyncio.Semaphore] = {}
        self._challenges: dict[str, asyncio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        self._tls: ssl.SSLContext | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._running: set[str] = set()
        self._owners: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.records: WriteBatcher[ProbeRecord, bool] = WriteBatcher(store.record_probes, _probed_node_id)

    async def start(self, periodic: bool = True) -> None:
        """Open the HTTP client and, unless another process runs them (`periodic` False), start the periodic rounds."""
        self._tls = httpx.create_ssl_context(trust_env=False)
        self._client = httpx.AsyncClient(
            verify=self._tls,
            follow_redirects=False,
            timeout=self.settings.probe_timeout_s,
            limits=httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=0),
            trust_env=False,
        )
        if periodic:
            self._spawn(self._loop())

    async def stop(self) -> None:
        """Cancel every probe, give this replica's leases back and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await asyncio.to_thread(self.store.release_all, f"{self.replica}:")
        except FreescodeError as exc:
            _log(f"could not give back the probe leases: {exc}")
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
        """Probe one node now (it was just registered), unless a probe of it is under way; the loop catches up otherwise."""
        if node_id not in self._running:
            self._spawn(self._claim_one(node_id))
        self._wake.set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _holder(self) -> str:
        """A fresh lease holder name: this replica's, numbered, so a stale release never frees a newer lease."""
        return f"{self.replica}:{next(self._claims)}"

    def _lease_until(self, now: float) -> float:
        return now + LEASE_TIMEOUTS * self.settings.probe_timeout_s + 1.0

    async def _loop(self) -> None:
        last_purge = -float("inf")
        while True:
            self._wake.clear()
            try:
                if time.monotonic() - last_purge >= self.settings.probe_interval_s:
                    last_purge = time.monotonic()
                    await self.purge()
                await self.probe_due()
            except Exception as exc:  # noqa: BLE001 - a failed round is logged and the next one runs
                _log(f"probing failed: {type(exc).__name__}: {exc}")
            tick = min(TICK_S, self.settings.probe_interval_s / 2)
            try:
                async with asyncio.timeout(tick):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def purge(self) -> int:
        """Forget nodes silent for longer than purge_after_s (and never within a lease)."""
        settings = self.settings
        purged = await asyncio.to_thread(self.store.purge, time.time() - max(settings.purge_after_s, settings.lease_s))
        if purged:
            self.changed()
        return purged

    async def probe_due(self) -> int:
        """Lease as many due nodes as this replica has free slots for and start probing each; how many were started.

        Nodes of an operator that already has PER_OPERATOR probes under way here are handed straight back.
        """
        now = time.time()
        busy = sorted(owner for owner, count in self._owners.items() if count >= PER_OPERATOR)
        free = CONCURRENCY - len(self._running)
        holder = self._holder()
        nodes = await asyncio.to_thread(
            self.store.claim_probes, holder, now, now - self.settings.lease_s, self._lease_until(now), free, busy
        )
        handed_back = []
        for node in nodes:
            if self._owners.get(node.owner, 0) >= PER_OPERATOR or node.node_id in self._running:
                handed_back.append(node.node_id)
            else:
                self._start(node, holder)
        if handed_back:
            await asyncio.to_thread(self.store.release, handed_back, holder)
        return len(nodes) - len(handed_back)

    async def _claim_one(self, node_id: str) -> None:
        try:
            holder = self._holder()
            now = time.time()
            node = await asyncio.to_thread(self.store.claim_probe, node_id, holder, now, self._lease_until(now))
        except FreescodeError as exc:
            _log(f"could not lease {node_id} for a probe: {exc}")
            return
        if node is None:
            return
        if node_id in self._running or self._owners.get(node.owner, 0) >= PER_OPERATOR:
            await asyncio.to_thread(self.store.release, [node_id], holder)
        else:
            self._start(node, holder)

    def _start(self, node: Node, holder: str) -> None:
        self._running.add(node.node_id)
        self._owners[node.owner] = self._owners.get(node.owner, 0) + 1
        self._spawn(self._probe_leased(node, holder))

    async def _probe_leased(self, node: Node, holder: str) -> None:
        """Probe a leased node and record what was found, which also hands the lease back."""
        try:
            await self._probe(node, holder)
        except Exception as exc:  # noqa: BLE001 - one node's failed probe must not stop the others
            _log(f"probing {node.node_id} failed: {type(exc).__name__}: {exc}")
        finally:
            self._running.discard(node.node_id)
            if len(self._running) == CONCURRENCY // 2:
                self._wake.set()
            self._owners[node.owner] -= 1
            if not self._owners[node.owner]:
                del self._owners[node.owner]

    def _one_node_client(self) -> httpx.AsyncClient:
        """A client for one probe: its requests share one connection to the node, which no other node's probe uses."""
        assert self._tls is not None, "the prober is not running"
        return httpx.AsyncClient(
            verify=self._tls,
            follow_redirects=False,
            timeout=self.settings.probe_timeout_s,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            trust_env=False,
        )

    async def _probe(self, node: Node, holder: str) -> None:
        operator = self._operators.setdefault(node.owner, asyncio.Semaphore(PER_OPERATOR))
        async with operator, self._slots, self._one_node_client() as client:
            result = await probe_node(
                node.url,
                node.models,
                node.probe_key,
                ownership_keys=self.keys(node.owner),
                policy=self.settings.addresses,
                resolver=self.resolver,
                client=client,
                timeout_s=self.settings.probe_timeout_s,
            )
        self.probes += 1
        changed = node.probed_at is None or node.probe_ok != result.ok or node.served != result.served
        ended = time.time()
        await self.records.submit((node, holder, result, ended, ended + self.settings.probe_interval_s, changed))
        if changed:
            self.changed()


def _probed_node_id(record: ProbeRecord) -> str:
    return record[0].node_id


def _log(line: str) -> None:
    print(f"freescode registry: {line}", file=sys.stderr, flush=True)
