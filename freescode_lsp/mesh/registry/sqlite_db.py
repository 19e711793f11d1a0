"""The registry's database in one SQLite file: the default, for one registry (and its probing process) on one machine.

Processes on the same file tell each other that listings changed through a counter in `meta`: `notify()`
raises it inside the writing transaction, and `watch()` reads it every WATCH_S.

The write lock is asked for again every LOCK_POLL_S while another process holds it, up to BUSY_TIMEOUT_MS:
SQLite's own busy handler sleeps 1, 2, 5, 10, 15 ms and longer between tries, so a heartbeat batch arriving
just after the probing process took the lock for a millisecond waited 8 to 33 ms for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from freescode_lsp.mesh.registry.database import Rows, StoreUnavailable

BUSY_TIMEOUT_MS = 5000
LOCK_POLL_S = 0.0005
WATCH_S = 0.1
CHANGES = "changes"


class SqliteSession:
    """SQLite's one connection, inside the database's lock."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement."""
        return self._db.execute(sql, params)

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        self._db.executemany(sql, params)

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one query: its first column, one value per row."""
        cursor = self._db.execute(sql, params)
        cursor.row_factory = None
        return [row[0] for row in cursor.fetchall()]

    def lock(self, name: str) -> None:
        """Nothing to do: a write transaction already holds SQLite's one write lock."""

    def may_lose_on_crash(self) -> None:
        """Nothing to do: in WAL mode with synchronous=NORMAL no commit waits for the disk (a power cut may lose the last)."""

    def notify(self) -> None:
        """Raise the file's change counter, for the other processes on the file (they read it every WATCH_S)."""
        self._db.execute(
            "INSERT INTO meta VALUES (?, '1') ON CONFLICT (key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1",
            (CHANGES,),
        )


class SqliteDatabase:
    """Two connections to one SQLite file under a lock each: one writes, one reads, so a long read never holds up a write."""

    kind = "sqlite"
    skip_locked = ""
    for_update = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._db = _connect(path, busy_timeout_ms=0)
        try:
            self._reader = _connect(path, busy_timeout_ms=BUSY_TIMEOUT_MS)
        except StoreUnavailable:
            self._db.close()
            raise

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqliteSession]:
        """A write transaction."""
        with self._lock, _unavailable():
            self._begin_immediate()
            try:
                yield SqliteSession(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """Take the file's write lock, asking again every LOCK_POLL_S while another process holds it."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_POLL_S)

    @contextlib.contextmanager
    def read(self) -> Iterator[SqliteSession]:
        """A read transaction on the reading connection: one consistent state, the last commit when it began."""
        with self._read_lock, _unavailable():
            self._reader.execute("BEGIN")
            try:
                yield SqliteSession(self._reader)
            finally:
                self._reader.execute("COMMIT")

    def close(self) -> None:
        """Close the file."""
        with self._lock, self._read_lock:
            self._db.close()
            self._reader.close()

    def changes(self) -> str | None:
        """The file's change counter (None before the first change)."""
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (CHANGES,)).fetchone()
        return None if row is None else str(row["value"])

    async def watch(self, changed: Callable[[], None]) -> None:
        """Call `changed` whenever the change counter moved since the last look, every WATCH_S."""
        seen = await asyncio.to_thread(self.changes)
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                now = await asyncio.to_thread(self.changes)
            except StoreUnavailable:
                continue
            if now != seen:
                seen = now
                changed()


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun explicitly), rows by name, WAL, waiting for locks."""
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot open the SQLite database {path}: {exc}") from exc
    return db


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """SQLite's operational errors (a locked or unreadable file) as StoreUnavailable."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the SQLite database failed: {exc}") from exc
