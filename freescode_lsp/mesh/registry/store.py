"""The registry's records in a database: the catalog, the node registrations and who probes which node when.

One store for both backends (an SQLite file by default, PostgreSQL for several replicas); every method is one
short transaction and blocks, so the async app calls it in a worker thread.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    endpoint_keys,
    parse_node_url,
)
from freescode_lsp.mesh.registry.database import (
    Database,
    Row,
    Session,
    StoreUnavailable,
    is_postgres,
)
from freescode_lsp.mesh.registry.records import (
    CatalogModel,
    Heartbeat,
    Node,
    ProbeResult,
    Registration,
)
from freescode_lsp.mesh.registry.schema import migrate
from freescode_lsp.models.catalog import BUILTIN_MODELS

__all__ = ["ProbeRecord", "Refused", "RegistryStore", "StoreUnavailable"]

# A probe's outcome to keep: the node as probed, the lease holder, the result, when it ended, when the node is
# due again, and whether the outcome changes the node's listing.
ProbeRecord = tuple[Node, str, ProbeResult, float, float, bool]

NODE_COLUMNS = (
    "node_id, owner, operator, url, models, price_per_1k, context, probe_key, revision, registered_at, last_seen,"
    " load, ttft_ms, tokens_per_s, probed_at, probe_ok, served, probe_error"
)
CATALOG_COLUMNS = "id, context, price_per_1k, specialties, added_by"
LISTABLE_IDS = "SELECT node_id FROM nodes WHERE probe_ok = 1 AND last_seen >= ?"
BATCH = 500


def open_database(target: str | Path) -> Database:
    """An SQLite file, or PostgreSQL when `target` is a postgresql:// URL; StoreUnavailable when it cannot be opened."""
    if is_postgres(target):
        from freescode_lsp.mesh.registry.postgres_db import PostgresDatabase

        return PostgresDatabase(str(target))
    from freescode_lsp.mesh.registry.sqlite_db import SqliteDatabase

    return SqliteDatabase(Path(target))


class Refused(FreescodeError):
    """A registration the store will not keep: the operator already has as many nodes as allowed."""


class RegistryStore:
    """The catalog and node registrations in an SQLite file or a postgresql:// database, migrated when opened."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.writer = secrets.token_hex(8)
        self.database: Database = open_database(target)
        try:
            migrate(self.database)
            self._seed()
            self._key_old_nodes()
        except BaseException:
            self.database.close()
            raise

    def close(self) -> None:
        """Close the database."""
        self.database.close()

    def describe(self) -> str:
        """The database in words, without any password."""
        return self.database.describe()

    def _seed(self) -> None:
        """Put the built-in models in the catalog the first time this database is opened, in their order."""
        with self.database.transaction() as db:
            db.lock("seed")
            if db.execute("SELECT 1 FROM meta WHERE key = 'seeded'").fetchone():
                return
            start = time.time()
            db.executemany(
                "INSERT INTO catalog VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING",
                [
                    (spec.id, spec.context, spec.price_per_1k, json.dumps(list(spec.specialties)), start + index * 1e-6)
                    for index, spec in enumerate(BUILTIN_MODELS)
                ],
            )
            db.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(start),))

    def _key_old_nodes(self) -> None:
        """Give nodes stored before endpoint keys existed the keys their URL alone implies."""
        with self.database.transaction() as db:
            rows = db.execute("SELECT node_id, url FROM nodes WHERE node_id NOT IN (SELECT node_id FROM endpoints)").fetchall()
            for row in rows:
                try:
                    keys = endpoint_keys(parse_node_url(row["url"]), ())
                except AddressError:
                    continue
                db.executemany("INSERT INTO endpoints VALUES (?, ?) ON CONFLICT DO NOTHING", [(k, row["node_id"]) for k in keys])

    def catalog(self) -> list[CatalogModel]:
        """Every catalog model, in the order they were added."""
        with self.database.read() as db:
            rows = db.execute(f"SELECT {CATALOG_COLUMNS} FROM catalog ORDER BY added_at, id").fetchall()
        return [
            CatalogModel(r["id"], r["context"], r["price_per_1k"], tuple(json.loads(r["specialties"])), r["added_by"])
            for r in rows
        ]

    def add_model(self, model: CatalogModel) -> bool:
        """Add a model to the catalog; False when the id is taken."""
        with self.database.transaction() as db:
            cursor = db.execute(
                "INSERT INTO catalog VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (model.id, model.context, model.price_per_1k, json.dumps(list(model.specialties)), model.added_by, time.time()),
            )
            added = cursor.rowcount == 1
            if added:
                db.notify()
            return added

    def nodes(self) -> list[Node]:
        """Every registration, oldest first."""
        with self.database.read() as db:
            rows = db.execute(f"SELECT {NODE_COLUMNS} FROM nodes ORDER BY registered_at, node_id").fetchall()
        return [Node.from_row(row) for row in rows]

    def listable(self, seen_since: float) -> list[Node]:
        """The nodes whose last probe succeeded and that were heard from since `seen_since`: the ones a listing may show."""
        with self.database.read() as db:
            rows = db.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE probe_ok = 1 AND last_seen >= ?", (seen_since,)).fetchall()
        return [Node.from_row(row) for row in rows]

    def listable_changes(self, seen_since: float, changed_since: float | None, known: set[str]) -> tuple[set[str], list[Node]]:
        """The ids of the listable nodes, and the full rows of those not `known`, probed since `changed_since`, or heard
        from since then through another store (this one's own heartbeats are known where they were stored).

        With `changed_since` None every listable row is read.
        """
        with self.database.read() as db:
            if changed_since is None:
                every = db.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE probe_ok = 1 AND last_seen >= ?", (seen_since,))
                nodes = [Node.from_row(row) for row in every.fetchall()]
                return {node.node_id for node in nodes}, nodes
            listable = set(db.column(LISTABLE_IDS, (seen_since,)))
            rows = db.execute(
                f"SELECT {NODE_COLUMNS} FROM nodes WHERE probe_ok = 1 AND last_seen >= ?"
                " AND ((last_seen >= ? AND (beat_by IS NULL OR beat_by <> ?)) OR probed_at >= ?)",
                (seen_since, changed_since, self.writer, changed_since),
            ).fetchall()
            nodes = [Node.from_row(row) for row in rows]
            unknown = sorted(listable - known - {node.node_id for node in nodes})
            for start in range(0, len(unknown), BATCH):
                batch = unknown[start : start + BATCH]
                marks = ",".join("?" * len(batch))
                found = db.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id IN ({marks})", batch).fetchall()
                nodes += [Node.from_row(row) for row in found]
        return listable, nodes

    def node(self, node_id: str) -> Node | None:
        """One registration, or None."""
        with self.database.read() as db:
            row = db.execute(f"SELECT {NODE_COLUMNS} FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
        return Node.from_row(row) if row else None

    def refusal(self, owner: str, url: str, keys: list[str], max_nodes: int) -> str | None:
        """Why a registration would be refused before its node is even asked to prove who runs it, or None."""
        with self.database.read() as db:
            return _over_limit(db, owner, _sharing(db, url, keys), max_nodes)

    def register(self, owner: str, node: Registration, keys: list[str], now: float, max_nodes: int) -> tuple[str, list[str]]:
        """Store a registration whose node proved `owner` runs it: its node id and the operators it was taken from.

        The same operator and endpoint keep their id; registrations of the endpoint by other operators are
        dropped, since their node no longer answers for them. Refused when the operator already has max_nodes.
        The node is due for a probe at once, whichever replica takes it.
        """
        with self.database.transaction() as db:
            db.lock("register")
            rows = _sharing(db, node.url, keys)
            refused = _over_limit(db, owner, rows, max_nodes)
            if refused is not None:
                raise Refused(refused)
            mine = [r["node_id"] for r in rows if r["owner"] == owner]
            node_id = mine[0] if mine else f"node-{secrets.token_hex(8)}"
            stale = [r["node_id"] for r in rows if r["node_id"] != node_id]
            db.executemany("DELETE FROM nodes WHERE node_id = ?", [(n,) for n in stale])
            db.executemany("DELETE FROM endpoints WHERE node_id = ?", [(n,) for n in [*stale, node_id]])
            db.executemany("INSERT INTO endpoints VALUES (?, ?)", [(key, node_id) for key in keys])
            models = json.dumps(list(node.models))
            values = (owner, node.operator, node.url, models, node.price_per_1k, node.context, node.probe_key, now)
            if mine:
                db.execute(
                    "UPDATE nodes SET owner = ?, operator = ?, url = ?, models = ?, price_per_1k = ?, context = ?,"
                    " probe_key = ?, last_seen = ?, beat_by = NULL, revision = revision + 1, probed_at = NULL, probe_ok = 0,"
                    " served = NULL, probe_error = NULL, probe_due = 0, probe_holder = NULL, probe_until = NULL"
                    " WHERE node_id = ?",
                    (*values, node_id),
                )
            else:
                db.execute(
                    "INSERT INTO nodes (owner, operator, url, models, price_per_1k, context, probe_key, last_seen,"
                    " node_id, revision, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (*values, node_id, now),
                )
            db.notify()
            return node_id, sorted({r["owner"] for r in rows if r["owner"] != owner})

    def heartbeat(self, node_id: str, owner: str, beat: Heartbeat, now: float) -> Node | None:
        """Renew the lease of a node this operator owns and keep the metrics it sent: the node, or None when not theirs."""
        with self.database.transaction() as db:
            db.may_lose_on_crash()
            row = db.execute(
                "UPDATE nodes SET last_seen = ?, load = COALESCE(?, load), ttft_ms = COALESCE(?, ttft_ms),"
                " tokens_per_s = COALESCE(?, tokens_per_s), beat_by = ?"
                f" WHERE node_id = ? AND owner = ? RETURNING {NODE_COLUMNS}",
                (now, beat.load, beat.ttft_ms, beat.tokens_per_s, self.writer, node_id, owner),
            ).fetchone()
        return Node.from_row(row) if row else None

    def heartbeats(self, beats: Sequence[tuple[str, str, Heartbeat, float]]) -> dict[str, Node]:
        """Several heartbeats (node id, owner, metrics, time; one per node) in one statement: the nodes renewed, by id.

        A beat whose node is unknown, or owned by another operator, renews nothing and is missing from the answer.
        """
        if not beats:
            return {}
        row = "(?, ?, CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION),"
        row += " CAST(? AS DOUBLE PRECISION))"
        params = [value for n, o, b, t in beats for value in (n, o, t, b.load, b.ttft_ms, b.tokens_per_s)]
        with self.database.transaction() as db:
            db.may_lose_on_crash()
            self._lock_in_order(db, [beat[0] for beat in beats])
            rows = db.execute(
                "UPDATE nodes SET last_seen = v.column3, load = COALESCE(v.column4, load),"
                " ttft_ms = COALESCE(v.column5, ttft_ms), tokens_per_s = COALESCE(v.column6, tokens_per_s), beat_by = ?"
                f" FROM (VALUES {','.join([row] * len(beats))}) AS v"
                f" WHERE nodes.node_id = v.column1 AND nodes.owner = v.column2 RETURNING {NODE_COLUMNS}",
                [self.writer, *params],
            ).fetchall()
        return {node.node_id: node for node in map(Node.from_row, rows)}

    def delete(self, node_id: str) -> None:
        """Forget a registration."""
        with self.database.transaction() as db:
            db.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))
            db.execute("DELETE FROM endpoints WHERE node_id = ?", (node_id,))
            db.notify()

    def claim_probes(self, holder: str, now: float, seen_since: float, until: float, limit: int, skip: list[str]) -> list[Node]:
        """Lease up to `limit` live nodes due for a probe, none of the `skip` operators', to `holder` until `until`.

        Replicas claiming at once get different nodes (rows another transaction holds are skipped); a lease
        that ran out, because its replica died mid-probe, can be claimed again.
        """
        if limit <= 0:
            return []
        others = f" AND owner NOT IN ({','.join('?' * len(skip))})" if skip else ""
        database = self.database
        with database.transaction() as db:
            db.may_lose_on_crash()
            rows = db.execute(
                f"UPDATE nodes SET probe_holder = ?, probe_until = ? WHERE node_id IN (SELECT node_id FROM nodes"
                f" WHERE probe_due <= ? AND last_seen >= ? AND (probe_until IS NULL OR probe_until < ?){others}"
                f" ORDER BY probe_due LIMIT ?{database.skip_locked})"
                f" AND (probe_until IS NULL OR probe_until < ?) RETURNING {NODE_COLUMNS}",
                (holder, until, now, seen_since, now, *skip, limit, now),
            ).fetchall()
        return sorted((Node.from_row(row) for row in rows), key=lambda node: node.node_id)

    def claim_probe(self, node_id: str, holder: str, now: float, until: float) -> Node | None:
        """Lease one node for a probe right away, unless another lease on it is still running."""
        with self.database.transaction() as db:
            row = db.execute(
                f"UPDATE nodes SET probe_holder = ?, probe_until = ? WHERE node_id = ?"
                f" AND (probe_until IS NULL OR probe_until < ?) RETURNING {NODE_COLUMNS}",
                (holder, until, node_id, now),
            ).fetchone()
        return Node.from_row(row) if row else None

    def release(self, node_ids: list[str], holder: str) -> None:
        """Give back leases without probing, so that the nodes are claimed again soon."""
        with self.database.transaction() as db:
            self._lock_in_order(db, node_ids)
            db.executemany(
                "UPDATE nodes SET probe_holder = NULL, probe_until = NULL WHERE node_id = ? AND probe_holder = ?",
                [(node_id, holder) for node_id in node_ids],
            )

    def release_all(self, holder_prefix: str) -> int:
        """Give back every lease whose holder starts with this prefix (a replica's own, when it stops)."""
        with self.database.transaction() as db:
            return int(
                db.execute(
                    "UPDATE nodes SET probe_holder = NULL, probe_until = NULL WHERE probe_holder LIKE ?",
                    (holder_prefix + "%",),
                ).rowcount
            )

    def record_probe(
        self, node: Node, holder: str, result: ProbeResult, now: float, next_due: float, changed: bool | None = None
    ) -> None:
        """Keep a probe's outcome unless the node re-registered while it ran, and make it due again at `next_due`."""
        if changed is None:
            changed = node.probed_at is None or node.probe_ok != result.ok or node.served != result.served
        self.record_probes([(node, holder, result, now, next_due, changed)])

    def record_probes(self, records: Sequence[ProbeRecord]) -> dict[str, bool]:
        """Several probes' outcomes (as record_probe; one per node) in one transaction: by node id, whether each was kept."""
        kept: dict[str, bool] = {}
        with self.database.transaction() as db:
            db.may_lose_on_crash()
            self._lock_in_order(db, [record[0].node_id for record in records])
            for node, holder, result, now, next_due, _ in records:
                kept[node.node_id] = bool(
                    db.execute(
                        "UPDATE nodes SET probed_at = ?, probe_ok = ?, served = ?, probe_error = ?"
                        " WHERE node_id = ? AND revision = ?",
                        (now, int(result.ok), json.dumps(list(result.served)), result.error, node.node_id, node.revision),
                    ).rowcount
                )
                db.execute(
                    "UPDATE nodes SET probe_due = ?, probe_holder = NULL, probe_until = NULL"
                    " WHERE node_id = ? AND probe_holder = ?",
                    (next_due, node.node_id, holder),
                )
            if any(kept[node.node_id] and changed for node, *_, changed in records):
                db.notify()
        return kept

    def _lock_in_order(self, db: Session, node_ids: Sequence[str]) -> None:
        """Lock these nodes' rows in one order, by id, where the database locks rows (PostgreSQL).

        Heartbeats and probe outcomes are written in batches by different processes; rows locked in whatever
        order each statement meets them made two batches wait for each other (a deadlock, which PostgreSQL
        breaks only after a second, failing one of them).
        """
        if self.database.for_update and len(node_ids) > 1:
            ordered = sorted(set(node_ids))
            marks = ",".join("?" * len(ordered))
            db.execute(
                f"SELECT node_id FROM nodes WHERE node_id IN ({marks}) ORDER BY node_id{self.database.for_update}", ordered
            ).fetchall()

    def purge(self, before: float) -> int:
        """Forget nodes not heard from since `before`; the number forgotten."""
        with self.database.transaction() as db:
            purged = db.execute("DELETE FROM nodes WHERE last_seen < ?", (before,)).rowcount
            db.execute("DELETE FROM endpoints WHERE node_id NOT IN (SELECT node_id FROM nodes)")
            if purged:
                db.notify()
            return int(purged)


def _sharing(db: Session, url: str, keys: list[str]) -> list[Row]:
    """The registrations of this URL or of any of these endpoint keys, oldest first."""
    marks = ",".join("?" * len(keys))
    endpoint = f" OR node_id IN (SELECT node_id FROM endpoints WHERE endpoint IN ({marks}))" if keys else ""
    return list(
        db.execute(
            f"SELECT node_id, owner FROM nodes WHERE url = ?{endpoint} ORDER BY registered_at, node_id",
            (url, *keys),
        ).fetchall()
    )


def _over_limit(db: Session, owner: str, rows: list[Row], max_nodes: int) -> str | None:
    """Why a new registration would take the operator over max_nodes, or None (a re-registration never does)."""
    if any(r["owner"] == owner for r in rows):
        return None
    count = db.execute("SELECT COUNT(*) AS count FROM nodes WHERE owner = ?", (owner,)).fetchone()["count"]
    if count < max_nodes:
        return None
    return f"operator {owner!r} already has {count} nodes registered, the most this registry allows; delete one first"
