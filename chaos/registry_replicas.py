"""Registry replicas under faults: a replica killed mid-load, PostgreSQL restarted, connections dropped, the database slowed.

Two `registry serve` replicas share one real PostgreSQL database; simulated nodes (one node farm process)
register and heartbeat through a client that knows both replicas, and simulated clients list models the same
way, all the time. After each fault every registration must still be there and listed, and while one replica
is left (every fault but the database's own restart) no client request may go unanswered.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chaos.common import CampaignResult, scratch_home
from freescode_lsp.testing.node_farm import NodeFarm, start_node_farm
from freescode_lsp.testing.postgres import PostgresServer, PostgresUnavailable, start_postgres
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.wire.registry_client import RegistryClient, RegistryError

MODEL = "mistral-7b"
OPERATORS = 4
LEASE_S = 6.0
SLOW_DB_S = 2.0
SETTLE_S = 60.0


class Load:
    """Heartbeats of every node and listings by clients, through both replicas, counting what went unanswered."""

    def __init__(self, urls: list[str], farm: NodeFarm, nodes: dict[str, int]) -> None:
        self.urls = urls
        self.farm = farm
        self.nodes = nodes
        self.phase = "start"
        self.unanswered: dict[str, int] = {}
        self.answered = 0
        self.slowest: dict[str, float] = {}
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """List and heartbeat until stopped."""
        await asyncio.gather(self._clients(), *(self._beats(operator) for operator in range(OPERATORS)))

    def stop(self) -> None:
        """End the load."""
        self._stop.set()

    async def _clients(self) -> None:
        async with RegistryClient(self.urls, timeout=10) as client:
            while not self._stop.is_set():
                await self._count(client.models)
                await asyncio.sleep(0.05)

    async def _beats(self, operator: int) -> None:
        mine = [node_id for node_id, owner in self.nodes.items() if owner == operator]
        async with RegistryClient(self.urls, timeout=10, token=self.farm.token(operator)) as client:
            while not self._stop.is_set():
                for node_id in mine:
                    await self._count(lambda node_id=node_id: client.heartbeat(node_id, load=0.1))
                await asyncio.sleep(LEASE_S / 4)

    async def _count(self, call: Callable[[], Awaitable[Any]]) -> None:
        started = time.monotonic()
        try:
            await call()
        except RegistryError:
            self.unanswered[self.phase] = self.unanswered.get(self.phase, 0) + 1
            return
        self.answered += 1
        self.slowest[self.phase] = max(self.slowest.get(self.phase, 0.0), time.monotonic() - started)


async def run(trials: int, seed: int, postgres: PostgresServer | None = None) -> CampaignResult:
    """Register `trials` nodes, then put the replicas through each fault under load (on its own PostgreSQL unless given one)."""
    result = CampaignResult("registry replicas")
    started = time.monotonic()
    own = postgres is None
    try:
        server = await asyncio.to_thread(start_postgres) if postgres is None else postgres
    except PostgresUnavailable as exc:
        result.notes.append(f"skipped: PostgreSQL cannot be set up here: {exc}")
        return result
    farm = start_node_farm(f"chaos-{seed}", [MODEL])
    try:
        with scratch_home() as home:
            await _campaign(server, farm, Path(home), trials, result)
    finally:
        farm.stop()
        if own:
            server.close()
    result.seconds = time.monotonic() - started
    return result


async def _campaign(postgres: PostgresServer, farm: NodeFarm, home: Path, trials: int, result: CampaignResult) -> None:
    url = postgres.create_database(f"chaos_{int(time.time() * 1000)}")
    tokens = ",".join(f"op{n}:{farm.token(n)}" for n in range(OPERATORS))
    args = ("--lease-s", str(LEASE_S), "--max-nodes-per-operator", str(trials))

    def replica(port: int = 0) -> RegistryProcess:
        more = (*args, "--port", str(port))
        return start_registry(url, env_tokens=tokens, probe_interval_s=2.0, extra_args=more, stderr=home / f"replica-{port}.log")  # type: ignore[arg-type]

    replicas = [replica(), replica()]
    try:
        urls = [r.url for r in replicas]
        nodes = await _register(urls, farm, trials)
        load = Load(urls, farm, nodes)
        running = asyncio.create_task(load.run())
        try:
            await _faults(postgres, url, replicas, replica, load, result)
            load.phase = "check"
            await _check(replicas, nodes, result)  # under load: a node listed again only while it heartbeats
        finally:
            load.stop()
            await running
        result.tried = trials
        for phase, count in load.unanswered.items():
            result.figures[f"unanswered {phase}"] = count
        for phase, seconds in load.slowest.items():
            result.figures[f"slowest answer s, {phase}"] = round(seconds, 3)
        result.figures["answered requests"] = load.answered
        for phase in ("replica killed", "connections dropped", "database slowed"):
            if load.unanswered.get(phase):
                result.fail(trials, f"{load.unanswered[phase]} requests unanswered while a replica was left ({phase})")
    finally:
        for process in replicas:
            process.stop()


async def _register(urls: list[str], farm: NodeFarm, trials: int) -> dict[str, int]:
    """Register the nodes, alternating replicas; node id -> operator."""
    nodes: dict[str, int] = {}
    for index in range(trials):
        operator = index % OPERATORS
        async with RegistryClient(urls[index % 2 :] + urls[: index % 2], token=farm.token(operator)) as client:
            answer = await client.register(farm.url(operator, index), [MODEL], 0.001, 4096)
        nodes[str(answer["node_id"])] = operator
    return nodes


async def _faults(
    postgres: PostgresServer,
    url: str,
    replicas: list[RegistryProcess],
    replica: Callable[[int], RegistryProcess],
    load: Load,
    result: CampaignResult,
) -> None:
    """Each fault in turn, with a calm phase after each."""
    load.phase = "calm"
    await asyncio.sleep(3)
    load.phase = "replica killed"
    replicas[0].process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(replicas[0].process.wait, 10)
    await asyncio.sleep(LEASE_S)
    port = replicas[0].port
    replicas[0].stop()
    replicas[0] = await asyncio.to_thread(replica, port)
    load.phase = "database restarted"
    await asyncio.to_thread(postgres.restart)
    await asyncio.sleep(3)
    load.phase = "connections dropped"
    ended = await asyncio.to_thread(postgres.drop_connections, url.rsplit("/", 1)[1])
    result.notes.append(f"{ended} database connections dropped")
    await asyncio.sleep(3)
    load.phase = "database slowed"
    await asyncio.to_thread(_hold_lock, url, SLOW_DB_S)
    await asyncio.sleep(2)
    load.phase = "calm after"
    await asyncio.sleep(3)


def _hold_lock(url: str, seconds: float) -> None:
    """Slow the database: hold the nodes table locked against every read and write for a while."""
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute("LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")
        time.sleep(seconds)


async def _check(replicas: list[RegistryProcess], nodes: dict[str, int], result: CampaignResult) -> None:
    """Every registration is still stored once and, within SETTLE_S, listed by every replica."""
    for process in replicas:
        stored = {n["node_id"] for n in (await asyncio.to_thread(process.http.get, "/v1/nodes")).json()["data"]}
        if stored != set(nodes):
            result.fail(len(nodes), f"{process.url} stores {len(stored)} nodes, expected the {len(nodes)} registered")
    deadline = time.monotonic() + SETTLE_S
    for process in replicas:
        while True:
            listed = (await asyncio.to_thread(process.http.get, f"/v1/models/{MODEL}")).json()["available_hosts"]
            if len(listed) == len(nodes) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        if len(listed) != len(nodes):
            result.fail(len(nodes), f"{process.url} lists {len(listed)} of the {len(nodes)} nodes after the faults")
