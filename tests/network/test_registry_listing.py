"""What keeps listings and heartbeats cheap with thousands of nodes: incremental reads, batched heartbeats, a probing child."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from freescode_lsp.mesh.registry.addresses import endpoint_keys, parse_node_url
from freescode_lsp.mesh.registry.app import RegistryApp
from freescode_lsp.mesh.registry.auth import OperatorTokens
from freescode_lsp.mesh.registry.database import StoreUnavailable
from freescode_lsp.mesh.registry.directory import SHOW_RENEWALS_S, Directory
from freescode_lsp.mesh.registry.heartbeats import Beat, HeartbeatBatcher, renewed
from freescode_lsp.mesh.registry.probe_rounds import RegistrySettings
from freescode_lsp.mesh.registry.records import Heartbeat, Node, ProbeResult, Registration
from freescode_lsp.mesh.registry.store import RegistryStore
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.registry_process import start_registry

MODEL = "mistral-7b"
LEASE_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryStore]:
    """A store on a new SQLite file or a new database on the session's PostgreSQL server."""
    target = tmp_path / "registry.sqlite3" if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))
    opened = RegistryStore(target)
    yield opened
    opened.close()


def listed_node(store: RegistryStore, owner: str, port: int, now: float) -> str:
    """Register a node and record a successful probe of it, as the prober would: its id."""
    url = f"http://127.0.0.1:{port}"
    registration = Registration(url=url, models=(MODEL,), price_per_1k=0.001, context=4096, operator=None, probe_key=None)
    node_id, _ = store.register(owner, registration, endpoint_keys(parse_node_url(url), ()), now, 100)
    node = store.claim_probe(node_id, "test:1", now, now + 5)
    assert node is not None
    store.record_probe(node, "test:1", ProbeResult(True, (MODEL,)), now, now + 10)
    return node_id


def hosts(body: bytes) -> dict[str, dict[str, object]]:
    """The hosts of a `/v1/models` answer, by URL."""
    return {host["url"]: host for model in json.loads(body)["data"] for host in model["available_hosts"]}


def test_heartbeats_in_one_batch_renew_only_their_owners_nodes(store: RegistryStore) -> None:
    now = 1_000_000.0
    alice = listed_node(store, "alice", 9001, now)
    bob = listed_node(store, "bob", 9002, now)
    renewed = store.heartbeats(
        [
            (alice, "alice", Heartbeat(load=0.5), now + 5),
            (bob, "alice", Heartbeat(load=9.0), now + 5),
            ("node-missing", "alice", Heartbeat(), now + 5),
        ]
    )
    assert list(renewed) == [alice]
    assert (renewed[alice].last_seen, renewed[alice].load, renewed[alice].ttft_ms) == (now + 5, 0.5, None)
    assert renewed[alice] == store.node(alice), "a renewed node is the stored one, every field"
    later = store.heartbeats([(alice, "alice", Heartbeat(ttft_ms=80.0), now + 6), (bob, "bob", Heartbeat(), now + 6)])
    assert (later[alice].load, later[alice].ttft_ms, later[bob].last_seen) == (0.5, 80.0, now + 6)
    untouched = store.node(bob)
    assert untouched is not None and untouched.load is None


async def test_a_listing_refresh_reads_only_the_rows_that_changed_and_shows_what_a_full_read_shows(
    store: RegistryStore,
) -> None:
    now = time.time()
    ids = [listed_node(store, "alice", 9000 + number, now - 10) for number in range(20)]
    directory = Directory(store, LEASE_S)
    first = await directory.view()
    assert directory.rows_read == 20 and len(hosts(first.models_body())) == 20

    now = time.time()  # the changes are stamped after the first read, however long the setup took
    other_replica = RegistryStore(store.target)
    try:
        other_replica.heartbeats([(ids[0], "alice", Heartbeat(load=0.75), now)])
    finally:
        other_replica.close()
    store.delete(ids[1])
    failed = store.claim_probe(ids[2], "test:2", now, now + 5)
    assert failed is not None
    store.record_probe(failed, "test:2", ProbeResult(False, (), "cannot connect"), now, now + 10)
    listed_node(store, "alice", 9100, now)
    directory.invalidate()
    second = await directory.view()

    assert directory.rows_read == 22, "only the node another replica renewed and the new one are read again"
    listed = hosts(second.models_body())
    assert listed == hosts((await Directory(store, LEASE_S).view()).models_body())
    assert listed["http://127.0.0.1:9000"]["load"] == 0.75
    assert "http://127.0.0.1:9001" not in listed and "http://127.0.0.1:9002" not in listed
    assert "http://127.0.0.1:9100" in listed and len(listed) == 19


async def test_a_replicas_own_heartbeats_are_shown_in_place_and_never_read_back_even_during_a_read(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    ids = [listed_node(store, "alice", 9000 + number, now - 10) for number in range(3)]
    directory = Directory(store, LEASE_S)
    await directory.view()
    read_so_far = directory.rows_read
    reading, release = threading.Event(), threading.Event()
    read_changes = store.listable_changes

    def read_then_wait(*args: object) -> object:
        found = read_changes(*args)  # type: ignore[arg-type]
        reading.set()
        release.wait(5)
        return found

    monkeypatch.setattr(store, "listable_changes", read_then_wait)
    directory.invalidate()
    during = asyncio.ensure_future(directory.view())
    assert await asyncio.to_thread(reading.wait, 5)
    renewed = store.heartbeats([(ids[0], "alice", Heartbeat(load=0.5), time.time())])
    directory.renewed(renewed[ids[0]], True)
    release.set()
    assert hosts((await during).models_body())["http://127.0.0.1:9000"]["load"] == 0.5, "stored while the read ran"

    directory.invalidate()
    after = await directory.view()
    assert directory.rows_read == read_so_far, "this replica's own heartbeat is not read back"
    assert hosts(after.models_body())["http://127.0.0.1:9000"]["load"] == 0.5


async def test_a_replicas_own_heartbeats_reach_its_listing_together_at_most_every_interval(store: RegistryStore) -> None:
    now = time.time()
    ids = [listed_node(store, "alice", 9000 + number, now - 10) for number in range(2)]
    directory = Directory(store, LEASE_S)
    await directory.view()
    stored = [store.node(node_id) for node_id in ids]
    assert stored[0] is not None and stored[1] is not None
    directory.renewed(renewed(stored[0], Heartbeat(load=0.5), time.time()), True)
    first = (await directory.view()).models_body()
    assert hosts(first)["http://127.0.0.1:9000"]["load"] == 0.5, "nothing was shown for a while: shown at once"
    directory.renewed(renewed(stored[1], Heartbeat(load=0.75), time.time()), True)
    assert (await directory.view()).models_body() is first, "gathered, not serialized again for each heartbeat"
    known = directory.known(ids[1])
    assert known is not None and known.load == 0.75, "an early answer builds on the heartbeat not shown yet"
    await asyncio.sleep(SHOW_RENEWALS_S)
    assert hosts((await directory.view()).models_body())["http://127.0.0.1:9001"]["load"] == 0.75


async def test_heartbeats_that_arrive_while_one_is_written_are_written_together() -> None:
    release = threading.Event()
    batches: list[list[str]] = []

    def write(beats: Sequence[Beat]) -> dict[str, Node]:
        batches.append([node_id for node_id, *_ in beats])
        release.wait(10)
        return {}

    batcher = HeartbeatBatcher(write)
    beats = [asyncio.ensure_future(batcher.beat("node-0", "alice", Heartbeat(), 1.0))]
    while not batches:
        await asyncio.sleep(0.01)
    beats += [asyncio.ensure_future(batcher.beat(f"node-{n}", "alice", Heartbeat(), 1.0)) for n in range(1, 20)]
    beats.append(asyncio.ensure_future(batcher.beat("node-3", "alice", Heartbeat(), 2.0)))
    while batcher.waiting < 20:
        await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.gather(*beats) == [None] * 21
    assert batches == [["node-0"], [f"node-{n}" for n in range(1, 20)], ["node-3"]]
    assert batcher.batches == 3


ALICE = {"Authorization": "Bearer a-token"}


@contextlib.asynccontextmanager
async def registry_app(store: RegistryStore) -> AsyncIterator[tuple[RegistryApp, httpx.AsyncClient]]:
    """The registry's app over `store`, in this process, with alice's token (no prober runs)."""
    app = RegistryApp(store, OperatorTokens([("alice", "a-token")]), RegistrySettings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.starlette()), base_url="http://r") as http:
        yield app, http


def held_writes(store: RegistryStore, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the store's heartbeat batches wait until the returned event is set."""
    release = threading.Event()
    write = store.heartbeats

    def held(beats: Sequence[Beat]) -> dict[str, Node]:
        release.wait(10)
        return write(beats)

    monkeypatch.setattr(store, "heartbeats", held)
    return release


async def test_a_heartbeat_for_a_listed_node_is_answered_before_its_write_and_never_read_back_stale(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_id = listed_node(store, "alice", 9000, time.time())
    release = held_writes(store, monkeypatch)
    async with registry_app(store) as (app, http):
        assert len(hosts((await http.get("/v1/models")).content)) == 1
        beat = await asyncio.wait_for(http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.5}, headers=ALICE), 5)
        assert beat.status_code == 200 and beat.json()["listed"] == [MODEL]
        assert hosts((await http.get("/v1/models")).content)["http://127.0.0.1:9000"]["load"] == 0.5
        stored = store.node(node_id)
        assert stored is not None and stored.load is None, "the write is still held"

        status = asyncio.ensure_future(http.get(f"/v1/nodes/{node_id}"))
        await asyncio.sleep(0.2)
        assert not status.done(), "a node's status waits for the heartbeats already answered"
        release.set()
        assert (await status).json()["load"] == 0.5
        assert app.heartbeats.batches == 1


async def test_a_heartbeat_from_another_operator_or_for_an_unlisted_node_waits_for_its_write(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_id = listed_node(store, "alice", 9000, time.time())
    registration = Registration("http://127.0.0.1:9001", (MODEL,), 0.001, 4096, None, None)
    unprobed, _ = store.register("alice", registration, endpoint_keys(parse_node_url(registration.url), ()), time.time(), 100)
    release = held_writes(store, monkeypatch)
    async with registry_app(store) as (app, http):
        app.tokens = OperatorTokens([("alice", "a-token"), ("bob", "b-token")])
        await http.get("/v1/models")
        forged = asyncio.ensure_future(
            http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 9}, headers={"Authorization": "Bearer b-token"})
        )
        unlisted = asyncio.ensure_future(http.post(f"/v1/nodes/{unprobed}/heartbeat", json={}, headers=ALICE))
        await asyncio.sleep(0.2)
        assert not forged.done() and not unlisted.done()
        release.set()
        assert (await forged).status_code == 403
        assert (await unlisted).json() == {"node_id": unprobed, "lease_s": 30.0, "listed": []}
    stored = store.node(node_id)
    assert stored is not None and stored.load is None


async def test_a_node_deleted_through_another_replica_is_refused_from_the_heartbeat_after_the_write_found_it_gone(
    store: RegistryStore,
) -> None:
    node_id = listed_node(store, "alice", 9000, time.time())
    async with registry_app(store) as (app, http):
        await http.get("/v1/models")
        other_replica = RegistryStore(store.target)
        try:
            other_replica.delete(node_id)
        finally:
            other_replica.close()
        first = await http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)
        await app.heartbeats.settled()
        second = await http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)
        assert first.status_code == 200, "the listing read before the deletion still held it"
        assert second.status_code == 404
        assert store.node(node_id) is None


async def test_heartbeats_wait_for_their_writes_once_a_batch_failed(
    store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_id = listed_node(store, "alice", 9000, time.time())
    failing = True
    write = store.heartbeats

    def flaky(beats: Sequence[Beat]) -> dict[str, Node]:
        if failing:
            raise StoreUnavailable("the database is unavailable: test")
        return write(beats)

    monkeypatch.setattr(store, "heartbeats", flaky)
    async with registry_app(store) as (app, http):
        await http.get("/v1/models")
        await http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)
        await app.heartbeats.settled()
        assert (await http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)).status_code == 503
        failing = False
        assert (await http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.25}, headers=ALICE)).status_code == 200
        stored = store.node(node_id)
        assert stored is not None and stored.load == 0.25, "answered after its write, the store being back"


def children(pid: int) -> list[int]:
    """The ids of a process's children."""
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def gone(pid: int) -> bool:
    """Whether a process has ended (exited, or a zombie waiting to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads child processes from /proc")
def test_a_registry_probes_in_a_lower_priority_child_process_that_dies_with_it(tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry.sqlite3", tokens={"alice": "a-token"})
    with registry:
        [child] = wait_for(lambda: children(registry.pid), "the probing process")
        command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        assert b"freescode_lsp.mesh.registry.probe_process" in command
        niceness = wait_for(lambda: os.getpriority(os.PRIO_PROCESS, child) or None, "the child to lower its priority")
        assert niceness > os.getpriority(os.PRIO_PROCESS, registry.pid)
        registry.process.send_signal(signal.SIGKILL)
        registry.process.wait(timeout=10)
        wait_for(lambda: gone(child), "the probing process to end with its parent")


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is None, reason="uvloop is not installed (the registry extra has it)")
@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="reads a process's loaded libraries from /proc")
def test_a_registry_and_its_probing_child_run_on_uvloop_when_it_is_installed(tmp_path: Path) -> None:
    def on_uvloop(pid: int) -> bool:
        libraries = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()}
        return any("/uvloop/" in library for library in libraries)

    with start_registry(tmp_path / "registry.sqlite3", tokens={"alice": "a-token"}) as registry:
        assert registry.http.get("/v1/models").status_code == 200
        assert on_uvloop(registry.pid), "the registry answers on asyncio's own loop"
        [child] = wait_for(lambda: children(registry.pid), "the probing process")
        wait_for(lambda: on_uvloop(child), "the probing process to run on uvloop")
