"""The registry's database in PostgreSQL: one database shared by any number of registry replicas.

Connections come from a psycopg pool (each checked before use, so a restarted server costs no request);
the store runs in worker threads, so the pool is psycopg's threaded one. Replicas tell each other that
listings changed with NOTIFY on one channel, and each listens on a connection of its own. Heartbeats, probe
outcomes and leases commit without waiting for the disk (`may_lose_on_crash`): a crash of the database may
lose the last fraction of a second of them, which the next ones replace; registrations always wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from freescode_lsp.mesh.registry.database import Rows, StoreUnavailable

CHANNEL = "freescode_registry"
POOL_MAX = 8
CONNECT_TIMEOUT_S = 3
WAIT_FOR_CONNECTION_S = 5.0
STATEMENT_TIMEOUT_MS = 5000
RELISTEN_S = 1.0


class PostgresSession:
    """One pooled connection inside one transaction."""

    def __init__(self, connection: psycopg.Connection[Any], origin: str) -> None:
        self._connection = connection
        self._origin = origin

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement, its `?` placeholders turned into psycopg's."""
        return self._connection.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        with self._connection.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), params)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one query: its first column, one value per row."""
        with self._connection.cursor(row_factory=tuple_row) as cursor:
            cursor.execute(sql.replace("?", "%s"), params)
            return [row[0] for row in cursor.fetchall()]

    def lock(self, name: str) -> None:
        """A transaction-scoped advisory lock keyed by the name."""
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        self._connection.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def may_lose_on_crash(self) -> None:
        """An asynchronous commit: it returns before the WAL reaches the disk (a crash may lose it, never half of it)."""
        self._connection.execute("SET LOCAL synchronous_commit TO OFF")

    def notify(self) -> None:
        """NOTIFY the other replicas when this transaction commits; the payload says which replica wrote."""
        self._connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, self._origin))


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database, opened from a postgresql:// URL."""

    kind = "postgresql"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        self.url = url
        self.origin = secrets.token_hex(8)
        try:
            conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise StoreUnavailable(f"{self.describe()} is not a valid PostgreSQL URL: {exc}") from exc
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT_S},
            configure=_configure,
            check=ConnectionPool.check_connection,
            timeout=WAIT_FOR_CONNECTION_S,
            open=False,
            name="freescode-registry",
        )
        self._pool.open(wait=False)
        try:
            with self.read() as session:
                session.execute("SELECT 1")
        except StoreUnavailable:
            self._pool.close()
            raise

    def describe(self) -> str:
        """The URL's host, port and database name, never its password."""
        try:
            parts = conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            return "the PostgreSQL URL"
        host = parts.get("host") or "the local socket"
        port = f":{parts['port']}" if parts.get("port") else ""
        return f"PostgreSQL database {parts.get('dbname') or '(default)'} at {host}{port}"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[PostgresSession]:
        """A transaction on a pooled connection: committed when the block ends, rolled back when it raises."""
        with self._unavailable(), self._pool.connection() as connection:
            yield PostgresSession(connection, self.origin)

    read = transaction

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    async def watch(self, changed: Callable[[], None]) -> None:
        """LISTEN for other replicas' changes; after a lost connection, assume something changed and listen again."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    changed()
                    async for note in connection.notifies():
                        if note.payload != self.origin:
                            changed()
            except psycopg.Error as exc:
                print(f"freescode registry: listening for other replicas failed: {exc}", file=sys.stderr, flush=True)
            changed()
            await asyncio.sleep(RELISTEN_S)

    @contextlib.contextmanager
    def _unavailable(self) -> Iterator[None]:
        """A database that cannot be reached, or did not answer in time, as StoreUnavailable."""
        try:
            yield
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"{self.describe()} is unavailable: {reason}") from exc


def _configure(connection: psycopg.Connection[Any]) -> None:
    """Every pooled connection gives up on a statement that takes longer than STATEMENT_TIMEOUT_MS."""
    connection.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    connection.commit()
