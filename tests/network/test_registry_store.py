"""The registry's store: one suite that every backend passes, an SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from freescode_lsp.mesh.registry.addresses import endpoint_keys, parse_node_url
from freescode_lsp.mesh.registry.database import StoreUnavailable
from freescode_lsp.mesh.registry.records import CatalogModel, Heartbeat, ProbeResult, Registration
from freescode_lsp.mesh.registry.schema import LATEST, MIGRATIONS, migrate, version
from freescode_lsp.mesh.registry.store import Refused, RegistryStore
from freescode_lsp.models.catalog import BUILTIN_MODELS

BUILTIN_IDS = [spec.id for spec in BUILTIN_MODELS]
NOW = 1_000_000.0
LEASE_S = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a store lives: an SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / "registry.sqlite3"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(target: str | Path) -> Iterator[RegistryStore]:
    """A store on a new database."""
    opened = RegistryStore(target)
    yield opened
    opened.close()


def registration(url: str, models: tuple[str, ...] = ("mistral-7b",), price: float = 0.001) -> Registration:
    """What a node registers."""
    return Registration(url=url, models=models, price_per_1k=price, context=4096, operator="label", probe_key="k")


def keys(port: int) -> list[str]:
    """The endpoint keys of a node on this loopback port."""
    return endpoint_keys(parse_node_url(f"http://127.0.0.1:{port}"), ())


def add(store: RegistryStore, owner: str, port: int, now: float = NOW, max_nodes: int = 16) -> str:
    """Register a node of this owner on this port; its id."""
    node_id, _ = store.register(owner, registration(f"http://127.0.0.1:{port}"), keys(port), now, max_nodes)
    return node_id


def test_a_new_database_is_migrated_to_the_latest_version_once(store: RegistryStore) -> None:
    assert version(store.database) == LATEST == len(MIGRATIONS)
    assert migrate(store.database) == []
    assert [model.id for model in store.catalog()] == BUILTIN_IDS


def test_opening_again_keeps_everything(target: str | Path) -> None:
    first = RegistryStore(target)
    assert first.add_model(CatalogModel("team-1b", 2048, 0.0001, ("Go",), "alice"))
    node_id = add(first, "alice", 9001)
    first.close()
    second = RegistryStore(target)
    try:
        assert [model.id for model in second.catalog()] == [*BUILTIN_IDS, "team-1b"]
        assert second.catalog()[-1] == CatalogModel("team-1b", 2048, 0.0001, ("Go",), "alice")
        node = second.node(node_id)
        assert node is not None and (node.owner, node.url, node.models) == ("alice", "http://127.0.0.1:9001", ("mistral-7b",))
    finally:
        second.close()


def test_a_database_newer_than_the_code_is_refused(store: RegistryStore, target: str | Path) -> None:
    with store.database.transaction() as db:
        db.execute("INSERT INTO schema_version (version, summary, applied_at) VALUES (?, 'from the future', 0)", (LATEST + 5,))
    store.close()
    with pytest.raises(StoreUnavailable, match=f"has schema version {LATEST + 5}, newer than this registry knows"):
        RegistryStore(target)


def test_a_file_from_before_schema_versions_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        for statement in MIGRATIONS[0].statements:
            old.execute(statement.replace("DOUBLE PRECISION", "REAL"))
        old.execute("INSERT INTO meta VALUES ('seeded', '1')")
        old.execute("INSERT INTO catalog VALUES ('old-model', 1024, NULL, '[]', NULL, 1)")
        old.execute(
            "INSERT INTO nodes (node_id, owner, url, models, price_per_1k, context, revision, registered_at, last_seen)"
            " VALUES ('node-old', 'alice', 'http://127.0.0.1:9009', '[\"old-model\"]', 0, 1024, 0, 1, ?)",
            (NOW,),
        )
    store = RegistryStore(path)
    try:
        assert version(store.database) == LATEST
        assert [model.id for model in store.catalog()] == ["old-model"]
        claimed = store.claim_probes("r:1", NOW, NOW - LEASE_S, NOW + 5, 10, [])
        assert [node.node_id for node in claimed] == ["node-old"]
        refused = store.refusal("bob", "http://localhost:9009", keys(9009), 16)
        assert refused is None
        taken_id, taken_from = store.register("bob", registration("http://localhost:9009"), keys(9009), NOW, 16)
        assert taken_from == ["alice"] and store.node("node-old") is None and store.node(taken_id) is not None
    finally:
        store.close()


def test_a_catalog_model_is_added_once(store: RegistryStore) -> None:
    model = CatalogModel("acme/coder-1b", 16384, None, (), "bob")
    assert store.add_model(model)
    assert not store.add_model(CatalogModel("acme/coder-1b", 1, 0.5, ("x",), "alice"))
    assert not store.add_model(CatalogModel("mistral-7b", 1, None, (), "alice"))
    assert store.catalog()[-1] == model
    assert next(m for m in store.catalog() if m.id == "mistral-7b").context == 32768


def test_one_endpoint_belongs_to_one_operator(store: RegistryStore) -> None:
    first = add(store, "alice", 9001)
    again, taken = store.register("alice", registration("http://localhost:9001/", price=0.002), keys(9001), NOW + 1, 16)
    assert (again, taken) == (first, [])
    node = store.node(first)
    assert node is not None and (node.revision, node.price_per_1k, node.registered_at) == (1, 0.002, NOW)
    bobs, taken = store.register("bob", registration("http://127.0.0.9:9001"), keys(9001), NOW + 2, 16)
    assert bobs != first and taken == ["alice"]
    assert [(n.node_id, n.owner) for n in store.nodes()] == [(bobs, "bob")]
    other = add(store, "alice", 9002, now=NOW + 3)
    assert [n.node_id for n in store.nodes()] == [bobs, other]


def test_an_operator_holds_at_most_max_nodes(store: RegistryStore) -> None:
    add(store, "bob", 9001, max_nodes=2)
    add(store, "bob", 9002, max_nodes=2)
    message = "operator 'bob' already has 2 nodes registered, the most this registry allows; delete one first"
    assert store.refusal("bob", "http://127.0.0.1:9003", keys(9003), 2) == message
    assert store.refusal("bob", "http://127.0.0.1:9002", keys(9002), 2) is None
    with pytest.raises(Refused, match="already has 2 nodes"):
        add(store, "bob", 9003, max_nodes=2)
    add(store, "alice", 9003, max_nodes=2)
    assert len(store.nodes()) == 3


def test_a_heartbeat_renews_only_the_owners_node(store: RegistryStore) -> None:
    node_id = add(store, "alice", 9001)
    assert store.heartbeat(node_id, "bob", Heartbeat(load=9.0), NOW + 5) is None
    renewed = store.heartbeat(node_id, "alice", Heartbeat(load=0.5, ttft_ms=80.0), NOW + 5)
    assert renewed is not None and (renewed.last_seen, renewed.load, renewed.ttft_ms, renewed.tokens_per_s) == (
        NOW + 5,
        0.5,
        80.0,
        None,
    )
    kept = store.heartbeat(node_id, "alice", Heartbeat(tokens_per_s=30.0), NOW + 6)
    assert kept is not None and (kept.load, kept.ttft_ms, kept.tokens_per_s) == (0.5, 80.0, 30.0)
    assert store.heartbeat("node-missing", "alice", Heartbeat(), NOW) is None


def test_deleting_and_purging_forget_nodes(store: RegistryStore) -> None:
    gone = add(store, "alice", 9001)
    old = add(store, "alice", 9002, now=NOW - 100)
    kept = add(store, "alice", 9003)
    store.delete(gone)
    assert store.purge(NOW - 50) == 1
    assert [n.node_id for n in store.nodes()] == [kept]
    assert store.node(old) is None
    again = add(store, "bob", 9002)
    assert store.node(again) is not None


def test_a_probe_of_an_older_registration_is_not_kept(store: RegistryStore) -> None:
    node_id = add(store, "alice", 9001)
    [claimed] = store.claim_probes("r:1", NOW, NOW - LEASE_S, NOW + 5, 10, [])
    add(store, "alice", 9001, now=NOW + 1)
    store.record_probe(claimed, "r:1", ProbeResult(True, ("mistral-7b",)), NOW + 2, NOW + 12)
    node = store.node(node_id)
    assert node is not None and (node.revision, node.probed_at, node.probe_ok) == (1, None, False)
    [again] = store.claim_probes("r:2", NOW + 2, NOW - LEASE_S, NOW + 7, 10, [])
    store.record_probe(again, "r:2", ProbeResult(True, ("mistral-7b",)), NOW + 3, NOW + 13)
    node = store.node(node_id)
    assert node is not None and (node.probed_at, node.probe_ok, node.served) == (NOW + 3, True, ("mistral-7b",))
    assert [n.node_id for n in store.listable(NOW - LEASE_S)] == [node_id]
    assert store.listable(NOW + 2) == []


def test_several_probes_are_kept_in_one_transaction_each_judged_on_its_own(store: RegistryStore) -> None:
    fresh, renewed = add(store, "alice", 9001), add(store, "alice", 9002)
    claimed = store.claim_probes("r:1", NOW, NOW - LEASE_S, NOW + 5, 10, [])
    add(store, "alice", 9002, now=NOW + 1)
    by_id = {node.node_id: node for node in claimed}
    ok, failed = ProbeResult(True, ("mistral-7b",)), ProbeResult(False, (), "cannot connect")
    records = [(by_id[fresh], "r:1", ok, NOW + 2, NOW + 12, True), (by_id[renewed], "r:1", failed, NOW + 2, NOW + 12, True)]
    assert store.record_probes(records) == {fresh: True, renewed: False}
    first, second = store.node(fresh), store.node(renewed)
    assert first is not None and (first.probed_at, first.probe_ok, first.served) == (NOW + 2, True, ("mistral-7b",))
    assert second is not None and (second.revision, second.probed_at, second.probe_error) == (1, None, None)
    assert [n.node_id for n in store.listable(NOW - LEASE_S)] == [fresh]
    assert [n.node_id for n in store.claim_probes("r:2", NOW + 3, NOW - LEASE_S, NOW + 20, 10, [])] == [renewed]
    assert [n.node_id for n in store.claim_probes("r:3", NOW + 12, NOW - LEASE_S, NOW + 17, 10, [])] == [fresh]
    assert store.record_probes([]) == {}


def test_probes_are_leased_once_until_done_or_the_lease_runs_out(store: RegistryStore) -> None:
    ids = [add(store, "alice", 9000 + i) for i in range(5)]
    add(store, "alice", 9100, now=NOW - LEASE_S - 1)
    first = store.claim_probes("a:1", NOW, NOW - LEASE_S, NOW + 5, 3, [])
    second = store.claim_probes("b:1", NOW, NOW - LEASE_S, NOW + 5, 10, [])
    assert len(first) == 3 and len(second) == 2
    assert sorted(n.node_id for n in first + second) == sorted(ids)
    assert store.claim_probes("c:1", NOW + 1, NOW - LEASE_S, NOW + 6, 10, []) == []

    done = first[0]
    store.record_probe(done, "a:1", ProbeResult(False, (), "cannot connect"), NOW + 1, NOW + 10)
    store.release([first[1].node_id], "a:1")
    store.release([first[2].node_id], "someone-else:1")
    reclaimed = store.claim_probes("c:2", NOW + 2, NOW - LEASE_S, NOW + 7, 10, [])
    assert [n.node_id for n in reclaimed] == [first[1].node_id]
    assert store.claim_probe(first[2].node_id, "c:3", NOW + 2, NOW + 7) is None

    after_leases = store.claim_probes("c:4", NOW + 6, NOW - LEASE_S, NOW + 11, 10, [])
    assert sorted(n.node_id for n in after_leases) == sorted([first[2].node_id, *(n.node_id for n in second)])
    due_again = store.claim_probes("c:5", NOW + 10, NOW - LEASE_S, NOW + 15, 10, [])
    assert sorted(n.node_id for n in due_again) == sorted([done.node_id, first[1].node_id]), "due, or its lease ran out"
    assert store.release_all("c:") == 5
    assert len(store.claim_probes("d:1", NOW + 10, NOW - LEASE_S, NOW + 15, 10, [])) == 5


def test_claims_skip_busy_operators_and_a_registration_makes_a_node_due_at_once(store: RegistryStore) -> None:
    alices = add(store, "alice", 9001)
    bobs = add(store, "bob", 9002)
    [claimed] = store.claim_probes("a:1", NOW, NOW - LEASE_S, NOW + 5, 10, ["alice"])
    assert claimed.node_id == bobs
    store.record_probe(claimed, "a:1", ProbeResult(True, ("mistral-7b",)), NOW, NOW + 10)
    assert store.claim_probes("a:2", NOW + 1, NOW - LEASE_S, NOW + 6, 10, ["alice"]) == []
    add(store, "bob", 9002, now=NOW + 1)
    again = store.claim_probe(bobs, "a:3", NOW + 1, NOW + 6)
    assert again is not None and again.revision == 1 and again.probed_at is None
    assert [n.node_id for n in store.claim_probes("a:4", NOW + 1, NOW - LEASE_S, NOW + 6, 10, [])] == [alices]


def test_replicas_claiming_at_once_never_lease_a_node_twice(target: str | Path) -> None:
    replicas = [RegistryStore(target) for _ in range(3)]
    try:
        ids = {add(replicas[0], f"op{i % 7}", 9000 + i) for i in range(60)}
        claims: dict[str, list[str]] = {}
        start = threading.Barrier(len(replicas))

        def claim(index: int) -> None:
            start.wait()
            got = claims.setdefault(f"r{index}", [])
            for round_ in range(20):
                got += [n.node_id for n in replicas[index].claim_probes(f"r{index}:{round_}", NOW, NOW - LEASE_S, NOW + 5, 4, [])]

        threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(replicas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        everything = [node_id for got in claims.values() for node_id in got]
        assert sorted(everything) == sorted(ids)
    finally:
        for replica in replicas:
            replica.close()


def test_stored_fields_keep_their_types(store: RegistryStore) -> None:
    node_id = add(store, "alice", 9001)
    [claimed] = store.claim_probes("a:1", NOW, NOW - LEASE_S, NOW + 5, 1, [])
    store.record_probe(claimed, "a:1", ProbeResult(True, ("mistral-7b",)), NOW + 0.125, NOW + 10)
    node = store.node(node_id)
    assert node is not None
    assert json.loads(json.dumps(node.status_json(NOW + 1, LEASE_S, True)))["listed"] == ["mistral-7b"]
    assert (type(node.context), type(node.price_per_1k), node.probed_at, node.probe_key) == (int, float, NOW + 0.125, "k")


def _hold_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    """Another connection (as another process would) holding the file's write lock for `seconds`."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    taken.set()
    threading.Event().wait(seconds)
    other.execute("COMMIT")
    other.close()


def test_an_sqlite_write_waits_for_another_connections_lock_and_then_lands(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    store = RegistryStore(path)
    try:
        taken = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 0.3, taken))
        holder.start()
        assert taken.wait(5)
        node_id = add(store, "alice", 9001)
        holder.join()
        assert store.node(node_id) is not None
    finally:
        store.close()


def test_an_sqlite_write_lock_held_past_the_busy_timeout_is_store_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from freescode_lsp.mesh.registry import sqlite_db

    path = tmp_path / "registry.sqlite3"
    store = RegistryStore(path)
    monkeypatch.setattr(sqlite_db, "BUSY_TIMEOUT_MS", 200)
    try:
        taken = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(path, 1.5, taken))
        holder.start()
        assert taken.wait(5)
        with pytest.raises(StoreUnavailable, match="locked"):
            add(store, "alice", 9001)
        holder.join()
        assert add(store, "alice", 9001).startswith("node-")
    finally:
        store.close()


def test_a_transaction_that_may_be_lost_on_a_crash_commits_without_waiting_for_the_disk(postgres_url: str) -> None:
    store = RegistryStore(postgres_url)
    try:
        with store.database.transaction() as db:
            default = db.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"]
        with store.database.transaction() as db:
            db.execute("SET LOCAL synchronous_commit TO on")
            db.may_lose_on_crash()
            relaxed = db.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"]
        with store.database.transaction() as db:
            after = db.execute("SHOW synchronous_commit").fetchone()["synchronous_commit"]
        assert (relaxed, after) == ("off", default), "for that one transaction only"
    finally:
        store.close()


def test_batched_writes_lock_their_rows_in_one_order_so_two_never_wait_in_a_circle(postgres_url: str) -> None:
    import psycopg

    store = RegistryStore(postgres_url)
    try:
        first, second = sorted([add(store, "alice", 9001), add(store, "alice", 9002)])
        claimed = store.claim_probes("a:1", NOW, NOW - LEASE_S, NOW + 5, 2, [])
        by_id = {node.node_id: node for node in claimed}
        records = [
            (by_id[node_id], "a:1", ProbeResult(True, ("mistral-7b",)), NOW, NOW + 10, True) for node_id in (second, first)
        ]
        with psycopg.connect(postgres_url) as holder, psycopg.connect(postgres_url) as looker:
            holder.execute("SELECT 1 FROM nodes WHERE node_id = %s FOR UPDATE", (first,))
            writer = threading.Thread(target=store.record_probes, args=(records,))
            writer.start()
            threading.Event().wait(0.5)  # the writer is now waiting for the first row
            with looker.transaction():
                free = looker.execute("SELECT 1 FROM nodes WHERE node_id = %s FOR UPDATE SKIP LOCKED", (second,)).fetchall()
            holder.rollback()
            writer.join(10)
        assert free == [(1,)], "the second row is not taken while the first one is waited for"
        assert all(store.node(node_id).probe_ok for node_id in (first, second))  # type: ignore[union-attr]
    finally:
        store.close()
