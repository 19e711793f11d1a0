"""The usage ledger: every model attempt metered into SQLite, and the remote budget checked against it."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from time import time as _now
from types import TracebackType
from typing import Any, Literal, Self

from attrs import define, field, validators

from freescode_lsp.errors import FreescodeError
from freescode_lsp.system import paths

Outcome = Literal["ok", "failed", "cancelled", "partial"]
OUTCOMES: tuple[str, ...] = ("ok", "failed", "cancelled", "partial")
GROUP_COLUMNS: tuple[str, ...] = ("model", "host", "task", "outcome")
SCHEMA_VERSION = 1
_COLUMNS = ("time", "task", "model", "host", "prompt_tokens", "completion_tokens", "price_per_1k", "outcome", "error")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    task TEXT,
    model TEXT NOT NULL,
    host TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    price_per_1k REAL NOT NULL,
    cost_usd REAL NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT
)
"""
_TOKENS = [validators.instance_of(int), validators.ge(0)]


def _when_free(statement: Callable[[], object], timeout_s: float) -> None:
    """Run a statement that SQLite answers "locked" at once (no busy wait), retrying until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


class LedgerError(FreescodeError):
    """The ledger file cannot be opened, read or written; the message names the file and why."""


def default_path() -> Path:
    """Where the usage ledger lives: `usage.sqlite3` in the state directory."""
    return paths.state_dir() / "usage.sqlite3"


def format_usd(value: float) -> str:
    """Dollars with cents, or with the first significant digits when below a cent."""
    if value == 0 or abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.6f}".rstrip("0") if round(value, 6) else "<$0.000001"


@define(kw_only=True)
class Attempt:
    """One try of one model on one host, with the tokens it used and how it ended."""

    time: float = field(factory=_now, converter=float)
    task: str | None = None
    model: str
    host: str
    prompt_tokens: int = field(default=0, validator=_TOKENS)
    completion_tokens: int = field(default=0, validator=_TOKENS)
    price_per_1k: float = field(default=0.0, converter=float, validator=validators.ge(0.0))
    outcome: Outcome = field(default="ok", validator=validators.in_(OUTCOMES))
    error: str | None = None

    @property
    def cost_usd(self) -> float:
        """What the attempt cost: tokens / 1000 x price per 1K tokens."""
        return (self.prompt_tokens + self.completion_tokens) / 1000 * self.price_per_1k


class Ledger:
    """Attempts in one SQLite file (WAL), shared safely by threads and by several processes."""

    def __init__(self, path: Path | str | None = None, timeout_s: float = 10.0) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._setup(self._db)
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise self._error("cannot be opened", exc) from exc

    def _setup(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"it was written by a newer freescode (schema {version})")
        _when_free(lambda: db.execute("PRAGMA journal_mode=WAL"), self.timeout_s)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        present = {row["name"] for row in db.execute("PRAGMA table_info(attempts)")}
        missing = (set(_COLUMNS) | {"cost_usd"}) - present
        if missing:
            raise sqlite3.DatabaseError(f"its attempts table lacks {', '.join(sorted(missing))}")
        db.execute("CREATE INDEX IF NOT EXISTS attempts_time ON attempts (time)")
        if version < SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _error(self, what: str, exc: BaseException) -> LedgerError:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return LedgerError(
            f"the usage ledger {self.path} {what}: {reason}; "
            "move the file aside to start a new ledger (usage is not metered until then)"
        )

    def close(self) -> None:
        """Close the connection; the Ledger cannot be used afterwards."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._db is None:
                raise LedgerError(f"the usage ledger {self.path} is closed")
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error("cannot be used", exc) from exc

    def record(self, attempt: Attempt) -> None:
        """Append one attempt."""
        values = [getattr(attempt, name) for name in _COLUMNS]
        self._query(
            f"INSERT INTO attempts ({', '.join(_COLUMNS)}, cost_usd) VALUES ({', '.join('?' * len(_COLUMNS))}, ?)",
            [*values, attempt.cost_usd],
        )

    def spent_usd(self, since: float | None = None) -> float:
        """Dollars spent on every attempt, or on those at or after `since` (epoch seconds)."""
        rows = self._query("SELECT TOTAL(cost_usd) FROM attempts WHERE time >= ?", [_floor(since)])
        return float(rows[0][0])

    def totals(self, group_by: Sequence[str] = ("model", "host"), since: float | None = None) -> list[dict[str, Any]]:
        """Requests, tokens, cost and failures per group, the most expensive first."""
        keys = list(dict.fromkeys(group_by))
        unknown = [key for key in keys if key not in GROUP_COLUMNS]
        if unknown:
            raise ValueError(f"cannot group by {', '.join(unknown)}; expected some of {', '.join(GROUP_COLUMNS)}")
        columns = "".join(f"{key}, " for key in keys)
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        rows = self._query(
            f"SELECT {columns}COUNT(*) AS requests, TOTAL(prompt_tokens) AS prompt_tokens,"
            " TOTAL(completion_tokens) AS completion_tokens, TOTAL(cost_usd) AS cost_usd,"
            " TOTAL(outcome = 'failed') AS failed"
            f" FROM attempts WHERE time >= ?{group} HAVING COUNT(*) > 0"
            f" ORDER BY cost_usd DESC, requests DESC{''.join(f', {key}' for key in keys)}",
            [_floor(since)],
        )
        return [
            {
                **{key: row[key] for key in keys},
                "requests": int(row["requests"]),
                "prompt_tokens": int(row["prompt_tokens"]),
                "completion_tokens": int(row["completion_tokens"]),
                "cost_usd": float(row["cost_usd"]),
                "failed": int(row["failed"]),
            }
            for row in rows
        ]

    def attempts(self, limit: int = 100) -> list[Attempt]:
        """The latest attempts, newest first."""
        rows = self._query(f"SELECT {', '.join(_COLUMNS)} FROM attempts ORDER BY time DESC, id DESC LIMIT ?", [limit])
        return [Attempt(**{name: row[name] for name in _COLUMNS}) for row in rows]


def _floor(since: float | None) -> float:
    return float("-inf") if since is None else float(since)


@define
class Budget:
    """A cap in dollars on priced remote attempts, checked against the ledger's spend."""

    ledger: Ledger | None
    limit_usd: float | None
    since: float | None = None

    def spent(self) -> float:
        """Dollars spent so far; raises LedgerError when the ledger cannot be read."""
        if self.ledger is None:
            raise LedgerError("the usage ledger is not available")
        return self.ledger.spent_usd(self.since)

    def remaining(self) -> float | None:
        """Dollars left, never below zero; None without a limit."""
        if self.limit_usd is None:
            return None
        return max(0.0, self.limit_usd - self.spent())

    def allows_remote(self, price_per_1k: float) -> bool:
        """Whether a host at this price may be used: free hosts always, priced ones until the budget is spent."""
        if price_per_1k <= 0 or self.limit_usd is None:
            return True
        try:
            return self.spent() < self.limit_usd
        except LedgerError:
            return False

    def reason(self) -> str:
        """The budget's state in plain words, fit for the message when a priced host is refused."""
        try:
            spent = self.spent()
        except LedgerError as exc:
            if self.limit_usd is None:
                return f"no remote budget is set; spending is unknown ({exc})"
            return (
                f"the remote budget of {format_usd(self.limit_usd)} cannot be checked ({exc}); "
                "priced nodes are not used, local models still work"
            )
        return budget_status(self.limit_usd, spent)


def budget_status(limit_usd: float | None, spent_usd: float) -> str:
    """A budget and what was spent against it, in plain words."""
    if limit_usd is None:
        return f"no remote budget is set; {format_usd(spent_usd)} used"
    if spent_usd >= limit_usd:
        return f"the remote budget of {format_usd(limit_usd)} is spent ({format_usd(spent_usd)} used); local models still work"
    return (
        f"{format_usd(spent_usd)} of the remote budget of {format_usd(limit_usd)} used; "
        f"{format_usd(_cents_down(limit_usd - spent_usd))} left"
    )


def _cents_down(value: float) -> float:
    """Whole cents rounded down, so what is left is never overstated."""
    return math.floor(value * 100 + 1e-9) / 100 if value >= 0.01 else value
