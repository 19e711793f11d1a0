"""The registry's database in one SQLite file: the default, for one registry process on one machine."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from freescode_lsp.mesh.registry.database import Rows, StoreUnavailable

BUSY_TIMEOUT_MS = 5000


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

    def lock(self, name: str) -> None:
        """Nothing to do: a write transaction already holds SQLite's one write lock."""

    def notify(self) -> None:
        """Nothing to do: an SQLite file has one registry process."""


class SqliteDatabase:
    """One connection to one SQLite file, shared by threads under a lock; writes are `BEGIN IMMEDIATE` transactions."""

    kind = "sqlite"
    skip_locked = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the SQLite database {path}: {exc}") from exc

    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[SqliteSession]:
        """A write transaction."""
        with self._lock, _unavailable():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteSession(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[SqliteSession]:
        """Statements run one by one under the lock, each seeing the last commit."""
        with self._lock, _unavailable():
            yield SqliteSession(self._db)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    async def watch(self, changed: Callable[[], None]) -> None:
        """No other replica writes an SQLite file, so nothing ever comes."""
        await asyncio.Event().wait()


@contextlib.contextmanager
def _unavailable() -> Iterator[None]:
    """SQLite's operational errors (a locked or unreadable file) as StoreUnavailable."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"the SQLite database failed: {exc}") from exc
