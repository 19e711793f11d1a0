"""What the registry's store needs of a database: short transactions of plain SQL, one backend per kind of database.

SQL is written once, with `?` placeholders, in the subset SQLite and PostgreSQL share; each backend runs it
its own way. `lock(name)` serializes the transactions that take the same name (SQLite's writers are serialized
anyway), and `notify()` tells the other registry replicas on the same database that listings changed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from freescode_lsp.errors import FreescodeError

Row = Mapping[str, Any]
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(FreescodeError):
    """The database cannot be reached or did not answer in time; the request may be retried later."""


class Rows(Protocol):
    """The answer of one statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Session(Protocol):
    """One transaction's connection."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement with `?` placeholders."""
        ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> None:
        """Run one statement once per parameter row."""
        ...

    def column(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one query: its first column, one value per row (no row objects, for long answers)."""
        ...

    def lock(self, name: str) -> None:
        """Hold a lock of this name until the transaction ends."""
        ...

    def may_lose_on_crash(self) -> None:
        """Let this transaction commit without waiting for the disk: a database crash may lose it, never half of it.

        For writes the next one replaces (heartbeats, probe outcomes and leases), never for registrations.
        """
        ...

    def notify(self) -> None:
        """Tell the other replicas, once this transaction commits, that listings changed."""
        ...


class Database(Protocol):
    """A connection (or pool) to one database."""

    kind: str
    skip_locked: str
    for_update: str

    def transaction(self) -> contextlib.AbstractContextManager[Session]:
        """A transaction that commits when the block ends and rolls back when it raises."""
        ...

    def read(self) -> contextlib.AbstractContextManager[Session]:
        """A connection for reading only, seeing one consistent state."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...

    async def watch(self, changed: Callable[[], None]) -> None:
        """Call `changed` whenever another replica says listings changed (or may have); runs until cancelled."""
        ...

    def describe(self) -> str:
        """The database in words, without any password."""
        ...


def is_postgres(target: str | Path) -> bool:
    """Whether a `--db` value names a PostgreSQL database rather than an SQLite file."""
    return isinstance(target, str) and target.startswith(POSTGRES_SCHEMES)
