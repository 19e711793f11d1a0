"""The registry at scale on loopback: simulated nodes register and heartbeat, clients list; SQLite, 1 and 2 PostgreSQL replicas.

python -m bench registry [--nodes 10000] [--seconds 60] [--setups floor,sqlite,postgres-1,postgres-2]

The nodes live in one node farm process (each answers the registry's probes at its own path); every node
heartbeats every --heartbeat-s, spread evenly; --clients clients list `/v1/models` and one model's hosts in
a loop. Each setup is measured after one heartbeat interval of the same load, so that every node was heard
from since it registered (as in a running network). Per setup: listing and heartbeat latency (p50, p99), how
often each node was probed (rounds per minute), the CPU the registry processes (answering, and their probing
children) and PostgreSQL used per 1,000 nodes, and the heartbeat rate reached (the load comes from this one
process, on the same cores as the registry). The floor (bench/registry_floor.py) is the baseline in the same
run: the registry's HTTP stack answering constants under the same load, so each latency's ratio is what the
registry adds to what this machine, the load generator and the stack cost alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import h11
import httpx

from bench.common import Row, machine, table
from bench.keepalive import KeepAlivePool
from bench.registry_floor import MODELS, start_floor
from freescode_lsp.testing.node_farm import NodeFarm, start_node_farm
from freescode_lsp.testing.postgres import PostgresServer, start_postgres
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry

NODES_PER_OPERATOR = 100
IN_FLIGHT = 64
SETUPS = ("floor", "sqlite", "postgres-1", "postgres-2")
REQUEST_TIMEOUT_S = 30.0


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values lie (nan when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds the processes used so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The ids of a process's children (none once it ended)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_pids(server: PostgresServer) -> list[int]:
    """The server process and its children."""
    if server.process is None:
        return []
    return [server.process.pid, *children(server.process.pid)]


class Setup:
    """One registry setup under load: its replicas, and what was measured."""

    def __init__(self, name: str, replicas: list[RegistryProcess], farm: NodeFarm, operators: int) -> None:
        self.name = name
        self.replicas = replicas
        self.farm = farm
        self.operators = operators
        self.listing: list[float] = []
        self.beats: list[float] = []
        self.failures: Counter[str] = Counter()
        self.nodes: list[tuple[str, int]] = []

    @property
    def failed(self) -> str:
        """How many requests failed, and how (status code or error)."""
        total = sum(self.failures.values())
        how = ", ".join(f"{reason}: {count}" for reason, count in self.failures.most_common())
        return f"{total} failed ({how})" if total else "0 failed"

    async def register(self, count: int) -> None:
        """Register `count` farm nodes, a few at a time per operator, through the replicas in turn."""
        gate = asyncio.Semaphore(IN_FLIGHT)
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=IN_FLIGHT)) as http:

            async def one(index: int) -> None:
                operator, model = index % self.operators, MODELS[index % len(MODELS)]
                body = {"url": self.farm.url(operator, index), "models": [model], "price_per_1k": 0.001, "context": 4096}
                headers = {"Authorization": f"Bearer {self.farm.token(operator)}"}
                async with gate:
                    for attempt in range(20):
                        replica = self.replicas[(index + attempt) % len(self.replicas)]
                        try:
                            response = await http.post(f"{replica.url}/v1/nodes", json=body, headers=headers)
                        except httpx.TransportError:
                            continue
                        if response.status_code != 429:
                            break
                        await asyncio.sleep(0.5)
                    else:
                        raise RuntimeError(f"node {index} could not be registered")
                response.raise_for_status()
                self.nodes.append((response.json()["node_id"], operator))

            await asyncio.gather(*(one(index) for index in range(count)))

    async def load(self, seconds: float, heartbeat_s: float, clients: int) -> float:
        """Heartbeat every node every heartbeat_s, and list with `clients` clients, for `seconds`; heartbeats sent a second."""
        stop = time.monotonic() + seconds
        beating = [KeepAlivePool("127.0.0.1", replica.port, IN_FLIGHT) for replica in self.replicas]
        listing = [[KeepAlivePool("127.0.0.1", replica.port, 1) for replica in self.replicas] for _ in range(clients)]
        try:
            sent = await asyncio.gather(
                self._beats(beating, stop, heartbeat_s), *(self._lists(listing[n], stop, n) for n in range(clients))
            )
        finally:
            for pool in [*beating, *(pool for pools in listing for pool in pools)]:
                await pool.close()
        return sent[0] / seconds

    async def _beats(self, pools: list[KeepAlivePool], stop: float, heartbeat_s: float) -> int:
        gate = asyncio.Semaphore(IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        start, sent = time.monotonic(), 0
        body = json.dumps({"load": 0.25, "ttft_ms": 90.0, "tokens_per_s": 40.0}).encode()
        while time.monotonic() < stop:
            due = int((time.monotonic() - start) / heartbeat_s * len(self.nodes))
            while sent < due and time.monotonic() < stop:
                node_id, operator = self.nodes[sent % len(self.nodes)]
                headers = {"authorization": f"Bearer {self.farm.token(operator)}"}
                request = pools[sent % len(pools)].request("POST", f"/v1/nodes/{node_id}/heartbeat", body, headers)
                await gate.acquire()
                task = asyncio.create_task(self._timed(request, self.beats, gate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        return sent

    async def _timed(
        self, request: Coroutine[Any, Any, tuple[int, bytes]], times: list[float], gate: asyncio.Semaphore | None = None
    ) -> None:
        """Run one request and keep its time when it answered 200; count it as failed otherwise."""
        try:
            started = time.perf_counter()
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                status, _ = await request
            if status == 200:
                times.append(time.perf_counter() - started)
            else:
                self.failures[f"HTTP {status}"] += 1
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            self.failures[type(exc).__name__] += 1
        finally:
            if gate is not None:
                gate.release()

    async def _lists(self, pools: list[KeepAlivePool], stop: float, number: int) -> int:
        paths = ["/v1/models", f"/v1/models/{MODELS[number % len(MODELS)]}"]
        count = 0
        while time.monotonic() < stop:
            # Both kinds of listing to every replica in turn (count % 2 alone would pick the path and the replica).
            replica = pools[(count // 2 + number) % len(pools)]
            await self._timed(replica.request("GET", paths[count % 2]), self.listing)
            count += 1
            await asyncio.sleep(0.02)
        return count


async def measure(
    name: str,
    db: str,
    farm: NodeFarm,
    folder: Path,
    args: argparse.Namespace,
    postgres: PostgresServer | None,
    floor: dict[str, float],
) -> list[Row]:
    """Start the setup's replicas (or the floor), register, load, and return its rows (latencies against `floor`)."""
    operators = max(1, -(-args.nodes // NODES_PER_OPERATOR))
    tokens = ",".join(f"op{n}:{farm.token(n)}" for n in range(operators))
    options = ("--max-nodes-per-operator", str(NODES_PER_OPERATOR), "--lease-s", str(args.heartbeat_s * 3))
    count = 2 if name.endswith("-2") else 1
    replicas = (
        [
            start_registry(
                db,  # type: ignore[arg-type]
                env_tokens=tokens,
                probe_interval_s=args.probe_interval_s,
                extra_args=options,
                stderr=folder / f"{name}-{n}.log",
            )
            for n in range(count)
        ]
        if name != "floor"
        else [start_floor(args.nodes)]
    )
    setup = Setup(name, replicas, farm, operators)
    try:
        began = time.monotonic()
        if name == "floor":
            setup.nodes = [(f"floor-{index}", index % operators) for index in range(args.nodes)]
        else:
            await setup.register(args.nodes)
        registering = time.monotonic() - began
        # Every node heard from once before measuring, as in a running network: registering 10,000 nodes takes
        # minutes, so most leases ran out before the load began, and their first heartbeats renewed expired nodes.
        await setup.load(args.heartbeat_s, args.heartbeat_s, args.clients)
        setup.listing.clear()
        setup.beats.clear()
        pids = [replica.process.pid for replica in replicas]
        probers = [child for pid in pids for child in children(pid)]
        cpu_before, probing_before = cpu_seconds(pids), cpu_seconds(probers)
        db_before = cpu_seconds(postgres_pids(postgres)) if postgres else 0.0
        probes_before, own_before = farm.probe_count(), time.process_time()
        farm_before = cpu_seconds([farm.process.pid])
        rate = await setup.load(args.seconds, args.heartbeat_s, args.clients)
        own, farm_cpu = time.process_time() - own_before, cpu_seconds([farm.process.pid]) - farm_before
        probes = farm.probe_count() - probes_before
        cpu, probing = cpu_seconds(pids) - cpu_before, cpu_seconds(probers) - probing_before
        db_cpu = (cpu_seconds(postgres_pids(postgres)) - db_before) if postgres else 0.0
    finally:
        for replica in replicas:
            replica.stop()
    if setup.failures:
        _show_what_replicas_said(name, folder, len(replicas))
    per_thousand = 1000 / args.nodes / args.seconds
    note = (
        f"{args.nodes} nodes, heartbeat every {args.heartbeat_s:g} s (target {args.nodes / args.heartbeat_s:.0f}/s),"
        f" probe interval {args.probe_interval_s:g} s, {args.clients} listing clients, {args.seconds:g} s"
        f" after {args.heartbeat_s:g} s of the same load;"
        f" {len(setup.listing)} listings, {len(setup.beats)} heartbeats, {setup.failed}; {machine()}"
    )
    label = f"{name}, {args.nodes} nodes"
    latencies = {
        "listing p50": percentile(setup.listing, 0.5) * 1000,
        "listing p99": percentile(setup.listing, 0.99) * 1000,
        "heartbeat p50": percentile(setup.beats, 0.5) * 1000,
        "heartbeat p99": percentile(setup.beats, 0.99) * 1000,
    }
    if name == "floor":
        floor.update(latencies)
        rows = [Row(f"{label}: {what}", value, None, "ms", note=note, digits=1) for what, value in latencies.items()]
        return [*rows, Row(f"{label}: heartbeats sent", rate, None, "/s", digits=0)]
    rows = [
        Row(f"{label}: registration", args.nodes / registering, None, "nodes/s", note=note, digits=1),
        *(Row(f"{label}: {what}", value, floor.get(what), "ms", digits=1) for what, value in latencies.items()),
        Row(f"{label}: heartbeats sent", rate, None, "/s", digits=0),
        Row(f"{label}: probe rounds", probes / args.nodes / (args.seconds / 60), None, "per node per minute", digits=2),
        Row(f"{label}: registry CPU per 1,000 nodes, answering", cpu * per_thousand, None, "cores", digits=3),
        Row(f"{label}: registry CPU per 1,000 nodes, probing", probing * per_thousand, None, "cores", digits=3),
    ]
    if postgres:
        rows.append(Row(f"{label}: PostgreSQL CPU per 1,000 nodes", db_cpu * per_thousand, None, "cores", digits=3))
    rows.append(Row(f"{label}: load generator and node farm CPU", (own + farm_cpu) / args.seconds, None, "cores", digits=2))
    return rows


def _show_what_replicas_said(name: str, folder: Path, count: int, lines: int = 5) -> None:
    """The last distinct lines each replica logged, when requests failed: the reason is usually there."""
    for number in range(count):
        log = folder / f"{name}-{number}.log"
        said = list(dict.fromkeys(log.read_text(errors="replace").splitlines())) if log.exists() else []
        for line in said[-lines:]:
            print(f"{name}, replica {number}: {line}", file=sys.stderr)


async def run_all(args: argparse.Namespace) -> list[Row]:
    """Every setup asked for, one after the other, each on a new database."""
    rows: list[Row] = []
    floor: dict[str, float] = {}
    setups = sorted((name for name in args.setups.split(",") if name), key=SETUPS.index)
    postgres = start_postgres(durable=True) if any(name.startswith("postgres") for name in setups) else None
    farm = start_node_farm("bench-farm", MODELS)
    try:
        with tempfile.TemporaryDirectory(prefix="freescode-bench-registry-") as name:
            folder = Path(name)
            for setup in setups:
                print(f"== registry: {setup}, {args.nodes} nodes", flush=True)
                on_postgres = setup.startswith("postgres")
                db = postgres.create_database(setup.replace("-", "_")) if on_postgres else str(folder / f"{setup}.sqlite3")  # type: ignore[union-attr]
                found = await measure(setup, db, farm, folder, args, postgres if on_postgres else None, floor)
                rows += found
                print(table(found, with_machine=False), flush=True)
    finally:
        farm.stop()
        if postgres is not None:
            postgres.close()
    return rows


def main(argv: list[str]) -> int:
    """Command line of `python -m bench registry`."""
    parser = argparse.ArgumentParser(prog="python -m bench registry", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the measured load (default 60)")
    parser.add_argument("--heartbeat-s", type=float, default=10.0)
    parser.add_argument("--probe-interval-s", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"any of {', '.join(SETUPS)}")
    args = parser.parse_args(argv)
    unknown = [name for name in args.setups.split(",") if name and name not in SETUPS]
    if unknown or not 1 <= args.nodes <= 20_000 or not 1 <= args.seconds <= 600:
        parser.error(f"setups must be among {', '.join(SETUPS)}; --nodes 1..20000; --seconds 1..600")
    rows = asyncio.run(run_all(args))
    print(table(rows, with_machine=False))
    print("\n".join(sorted({row.note for row in rows if row.note})))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
