"""The registry's tables and their migrations, one SQL text for SQLite and PostgreSQL, counted in `schema_version`.

A database made before versions were counted already holds version 1's tables: its statements only create
what is missing, so such a file is counted as version 1 and migrated on from there.
"""

from __future__ import annotations

import time

from attrs import frozen

from freescode_lsp.mesh.registry.database import Database, StoreUnavailable


@frozen
class Migration:
    """One step of the schema: its version number, what it does, its statements."""

    version: int
    summary: str
    statements: tuple[str, ...]


MIGRATIONS = (
    Migration(
        1,
        "the catalog, the nodes and their endpoint keys",
        (
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS catalog (id TEXT PRIMARY KEY, context INTEGER NOT NULL,"
            " price_per_1k DOUBLE PRECISION, specialties TEXT NOT NULL, added_by TEXT, added_at DOUBLE PRECISION NOT NULL)",
            "CREATE TABLE IF NOT EXISTS nodes (node_id TEXT PRIMARY KEY, owner TEXT NOT NULL, operator TEXT,"
            " url TEXT NOT NULL, models TEXT NOT NULL, price_per_1k DOUBLE PRECISION NOT NULL, context INTEGER NOT NULL,"
            " probe_key TEXT, revision INTEGER NOT NULL, registered_at DOUBLE PRECISION NOT NULL,"
            " last_seen DOUBLE PRECISION NOT NULL, load DOUBLE PRECISION, ttft_ms DOUBLE PRECISION,"
            " tokens_per_s DOUBLE PRECISION, probed_at DOUBLE PRECISION, probe_ok INTEGER NOT NULL DEFAULT 0,"
            " served TEXT, probe_error TEXT)",
            "CREATE INDEX IF NOT EXISTS nodes_url ON nodes (url)",
            "CREATE TABLE IF NOT EXISTS endpoints (endpoint TEXT NOT NULL, node_id TEXT NOT NULL,"
            " PRIMARY KEY (endpoint, node_id))",
            "CREATE INDEX IF NOT EXISTS endpoints_node ON endpoints (node_id)",
        ),
    ),
    Migration(
        2,
        "probe leases, so that replicas share the probing",
        (
            "ALTER TABLE nodes ADD COLUMN probe_due DOUBLE PRECISION NOT NULL DEFAULT 0",
            "ALTER TABLE nodes ADD COLUMN probe_holder TEXT",
            "ALTER TABLE nodes ADD COLUMN probe_until DOUBLE PRECISION",
            "CREATE INDEX IF NOT EXISTS nodes_probe_due ON nodes (probe_due)",
            "CREATE INDEX IF NOT EXISTS nodes_owner ON nodes (owner)",
        ),
    ),
    Migration(
        3,
        "which replica stored each node's last heartbeat, so that listings re-read only the other replicas' ones",
        ("ALTER TABLE nodes ADD COLUMN beat_by TEXT",),
    ),
)
LATEST = MIGRATIONS[-1].version


def migrate(database: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Bring the database to the latest version in one transaction; the versions applied now.

    Replicas starting together take turns; a database newer than this code is refused with StoreUnavailable.
    """
    with database.transaction() as session:
        session.lock("schema")
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, summary TEXT NOT NULL,"
            " applied_at DOUBLE PRECISION NOT NULL)"
        )
        done = {row["version"] for row in session.execute("SELECT version FROM schema_version").fetchall()}
        known = {migration.version for migration in migrations}
        newer = sorted(done - known)
        if newer:
            raise StoreUnavailable(
                f"{database.describe()} has schema version {newer[-1]}, newer than this registry knows"
                f" ({max(known)}); run the newer freescode that migrated it"
            )
        applied = []
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                session.execute(statement)
            session.execute(
                "INSERT INTO schema_version (version, summary, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.summary, time.time()),
            )
            applied.append(migration.version)
        return applied


def version(database: Database) -> int:
    """The database's schema version (0 before any migration)."""
    with database.read() as session:
        row = session.execute("SELECT MAX(version) AS version FROM schema_version").fetchone()
    return int(row["version"] or 0)
