"""The registry's SQLite file: the catalog and the node registrations."""

from __future__ import annotations

import contextlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    endpoint_keys,
    parse_node_url,
)
from freescode_lsp.mesh.registry.records import (
    CatalogModel,
    Heartbeat,
    Node,
    ProbeResult,
    Registration,
)
from freescode_lsp.models.catalog import BUILTIN_MODELS

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalog (
    id TEXT PRIMARY KEY, context INTEGER NOT NULL, price_per_1k REAL, specialties TEXT NOT NULL,
    added_by TEXT, added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY, owner TEXT NOT NULL, operator TEXT, url TEXT NOT NULL, models TEXT NOT NULL,
    price_per_1k REAL NOT NULL, context INTEGER NOT NULL, probe_key TEXT, revision INTEGER NOT NULL,
    registered_at REAL NOT NULL, last_seen REAL NOT NULL, load REAL, ttft_ms REAL, tokens_per_s REAL,
    probed_at REAL, probe_ok INTEGER NOT NULL DEFAULT 0, served TEXT, probe_error TEXT
);
CREATE INDEX IF NOT EXISTS nodes_url ON nodes (url);
CREATE TABLE IF NOT EXISTS endpoints (endpoint TEXT NOT NULL, node_id TEXT NOT NULL, PRIMARY KEY (endpoint, node_id));
CREATE INDEX IF NOT EXISTS endpoints_node ON endpoints (node_id);
"""


class Refused(FreescodeError):
    """A registration the store will not keep: the operator already has as many nodes as allowed."""


class RegistryStore:
    """The catalog and node registrations in one SQLite file; every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._seed()
        self._key_old_nodes()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _seed(self) -> None:
        """Put the built-in models in the catalog the first time this database is opened."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = 'seeded'").fetchone():
                return
            for spec in BUILTIN_MODELS:
                db.execute(
                    "INSERT OR IGNORE INTO catalog VALUES (?, ?, ?, ?, NULL, ?)",
                    (spec.id, spec.context, spec.price_per_1k, json.dumps(list(spec.specialties)), time.time()),
                )
            db.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(time.time()),))

    def _key_old_nodes(self) -> None:
        """Give nodes stored before endpoint keys existed the keys their URL alone implies."""
        with self._transaction() as db:
            rows = db.execute("SELECT node_id, url FROM nodes WHERE node_id NOT IN (SELECT node_id FROM endpoints)").fetchall()
            for row in rows:
                try:
                    keys = endpoint_keys(parse_node_url(row["url"]), ())
                except AddressError:
                    continue
                db.executemany("INSERT OR IGNORE INTO endpoints VALUES (?, ?)", [(k, row["node_id"]) for k in keys])

    def catalog(self) -> list[CatalogModel]:
        """Every catalog model, in the order they were added."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM catalog ORDER BY added_at, rowid").fetchall()
        return [
            CatalogModel(r["id"], r["context"], r["price_per_1k"], tuple(json.loads(r["specialties"])), r["added_by"])
            for r in rows
        ]

    def add_model(self, model: CatalogModel) -> bool:
        """Add a model to the catalog; False when the id is taken."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO catalog VALUES (?, ?, ?, ?, ?, ?)",
                (
                    model.id,
                    model.context,
                    model.price_per_1k,
                    json.dumps(list(model.specialties)),
                    model.added_by,
                    time.time(),
                ),
            )
            return cursor.rowcount == 1

    def nodes(self) -> list[Node]:
        """Every registration, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM nodes ORDER BY registered_at, node_id").fetchall()
        return [Node.from_row(row) for row in rows]

    def node(self, node_id: str) -> Node | None:
        """One registration, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
        return Node.from_row(row) if row else None

    def refusal(self, owner: str, url: str, keys: list[str], max_nodes: int) -> str | None:
        """Why a registration would be refused before its node is even asked to prove who runs it, or None."""
        with self._lock:
            return self._over_limit(self._db, owner, self._sharing(self._db, url, keys), max_nodes)

    def register(self, owner: str, node: Registration, keys: list[str], now: float, max_nodes: int) -> tuple[str, list[str]]:
        """Store a registration whose node proved `owner` runs it: its node id and the operators it was taken from.

        The same operator and endpoint keep their id; registrations of the endpoint by other operators are
        dropped, since their node no longer answers for them. Refused when the operator already has max_nodes.
        """
        with self._transaction() as db:
            rows = self._sharing(db, node.url, keys)
            refused = self._over_limit(db, owner, rows, max_nodes)
            if refused is not None:
                raise Refused(refused)
            mine = [r["node_id"] for r in rows if r["owner"] == owner]
            node_id = mine[0] if mine else f"node-{secrets.token_hex(8)}"
            stale = [r["node_id"] for r in rows if r["node_id"] != node_id]
            db.executemany("DELETE FROM nodes WHERE node_id = ?", [(n,) for n in stale])
            db.executemany("DELETE FROM endpoints WHERE node_id = ?", [(n,) for n in [*stale, node_id]])
            db.executemany("INSERT INTO endpoints VALUES (?, ?)", [(key, node_id) for key in keys])
            values = (
                owner,
                node.operator,
                node.url,
                json.dumps(list(node.models)),
                node.price_per_1k,
                node.context,
                node.probe_key,
                now,
            )
            if mine:
                db.execute(
                    "UPDATE nodes SET owner = ?, operator = ?, url = ?, models = ?, price_per_1k = ?, context = ?,"
                    " probe_key = ?, last_seen = ?, revision = revision + 1, probed_at = NULL, probe_ok = 0,"
                    " served = NULL, probe_error = NULL WHERE node_id = ?",
                    (*values, node_id),
                )
            else:
                db.execute(
                    "INSERT INTO nodes (owner, operator, url, models, price_per_1k, context, probe_key, last_seen,"
                    " node_id, revision, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (*values, node_id, now),
                )
            return node_id, sorted({r["owner"] for r in rows if r["owner"] != owner})

    @staticmethod
    def _sharing(db: sqlite3.Connection, url: str, keys: list[str]) -> list[sqlite3.Row]:
        """The registrations of this URL or of any of these endpoint keys, oldest first."""
        marks = ",".join("?" * len(keys))
        return db.execute(
            f"SELECT node_id, owner FROM nodes WHERE url = ? OR node_id IN"
            f" (SELECT node_id FROM endpoints WHERE endpoint IN ({marks})) ORDER BY registered_at, node_id",
            (url, *keys),
        ).fetchall()

    @staticmethod
    def _over_limit(db: sqlite3.Connection, owner: str, rows: list[sqlite3.Row], max_nodes: int) -> str | None:
        """Why a new registration would take the operator over max_nodes, or None (a re-registration never does)."""
        if any(r["owner"] == owner for r in rows):
            return None
        count = db.execute("SELECT COUNT(*) FROM nodes WHERE owner = ?", (owner,)).fetchone()[0]
        if count < max_nodes:
            return None
        return f"operator {owner!r} already has {count} nodes registered, the most this registry allows; delete one first"

    def heartbeat(self, node_id: str, beat: Heartbeat, now: float) -> None:
        """Renew a node's lease and keep the metrics it sent."""
        with self._transaction() as db:
            db.execute(
                "UPDATE nodes SET last_seen = ?, load = COALESCE(?, load), ttft_ms = COALESCE(?, ttft_ms),"
                " tokens_per_s = COALESCE(?, tokens_per_s) WHERE node_id = ?",
                (now, beat.load, beat.ttft_ms, beat.tokens_per_s, node_id),
            )

    def delete(self, node_id: str) -> None:
        """Forget a registration."""
        with self._transaction() as db:
            db.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))
            db.execute("DELETE FROM endpoints WHERE node_id = ?", (node_id,))

    def record_probe(self, node_id: str, revision: int, result: ProbeResult, now: float) -> None:
        """Keep a probe's outcome unless the node re-registered while it ran."""
        with self._transaction() as db:
            db.execute(
                "UPDATE nodes SET probed_at = ?, probe_ok = ?, served = ?, probe_error = ? WHERE node_id = ? AND revision = ?",
                (now, int(result.ok), json.dumps(list(result.served)), result.error, node_id, revision),
            )

    def purge(self, before: float) -> int:
        """Forget nodes not heard from since `before`; the number forgotten."""
        with self._transaction() as db:
            purged = db.execute("DELETE FROM nodes WHERE last_seen < ?", (before,)).rowcount
            db.execute("DELETE FROM endpoints WHERE node_id NOT IN (SELECT node_id FROM nodes)")
            return int(purged)
