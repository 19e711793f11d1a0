"""The node operator's earnings ledger: tokens served per client key, in SQLite."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from attrs import define

SCHEMA = """
CREATE TABLE IF NOT EXISTS served (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, client TEXT NOT NULL, model TEXT NOT NULL, endpoint TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, price_per_1k REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS served_client ON served (client);
"""


@define(frozen=True)
class ClientUsage:
    """What one client key was served: requests, tokens, and earnings at the prices of the time."""

    client: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    earnings: float

    def to_json(self) -> dict[str, Any]:
        """The usage as a JSON object."""
        return {
            "key": self.client,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "earnings": round(self.earnings, 9),
        }


class NodeLedger:
    """One SQLite file; every write is one short transaction, safe to read while the gateway runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def record(
        self, client: str, model: str, endpoint: str, prompt_tokens: int, completion_tokens: int, price_per_1k: float
    ) -> None:
        """Add one served request."""
        with self._lock:
            self._db.execute(
                "INSERT INTO served (at, client, model, endpoint, prompt_tokens, completion_tokens, price_per_1k)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), client, model, endpoint, prompt_tokens, completion_tokens, price_per_1k),
            )

    def by_client(self) -> list[ClientUsage]:
        """Usage per client key, in name order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT client, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens),"
                " SUM((prompt_tokens + completion_tokens) * price_per_1k / 1000.0)"
                " FROM served GROUP BY client ORDER BY client"
            ).fetchall()
        return [ClientUsage(row[0], row[1], row[2], row[3], row[4]) for row in rows]
