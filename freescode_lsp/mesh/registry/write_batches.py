"""Writes stored in batches: the ones that arrive while a batch is being written go together into the next.

Under a light load every write is made at once, alone; under thousands a second, one transaction and one
commit (one WAL flush on PostgreSQL, one turn of SQLite's single writer lock) serve many, and no write waits
for more than the batch before its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Generic, TypeVar

MAX_BATCH = 500

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class WriteBatcher(Generic[Item, Answer]):
    """Writes items through `write` (blocking, run in a worker thread), one batch at a time, one item per key in each.

    `write` answers by key; an item whose key is missing from the answer gets None. `failing` says whether the
    last batch failed.
    """

    def __init__(
        self,
        write: Callable[[Sequence[Item]], Mapping[str, Answer]],
        key: Callable[[Item], str],
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.write = write
        self.key = key
        self.max_batch = max_batch
        self.batches = 0
        self.failing = False
        self._pending: list[tuple[Item, asyncio.Future[Answer | None]]] = []
        self._writing: list[asyncio.Future[Answer | None]] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Items not yet in a batch being written."""
        return len(self._pending)

    async def submit(self, item: Item) -> Answer | None:
        """Store one item with the next batch; what `write` answered for its key."""
        return await self.submit_later(item)

    def submit_later(self, item: Item) -> asyncio.Future[Answer | None]:
        """Store one item with the next batch, without waiting: the future of what `write` answers for its key."""
        answer: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return answer

    async def settled(self) -> None:
        """Wait until every item submitted so far is written (or failed)."""
        unsettled = [answer for _, answer in self._pending] + self._writing
        if unsettled:
            await asyncio.wait(unsettled)

    async def _write_all(self) -> None:
        try:
            while self._pending:
                batch = self._next_batch()
                self._writing = [answer for _, answer in batch]
                try:
                    found = await asyncio.to_thread(self.write, [item for item, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the store's error
                    self.failing = True
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                finally:
                    self._writing = []
                self.failing = False
                self.batches += 1
                for item, answer in batch:
                    if not answer.done():
                        answer.set_result(found.get(self.key(item)))
        finally:
            self._writer = None

    def _next_batch(self) -> list[tuple[Item, asyncio.Future[Answer | None]]]:
        """Up to max_batch waiting items, at most one per key (a key's second one waits for the next batch)."""
        batch: list[tuple[Item, asyncio.Future[Answer | None]]] = []
        later: list[tuple[Item, asyncio.Future[Answer | None]]] = []
        keys: set[str] = set()
        for entry in self._pending:
            key = self.key(entry[0])
            if key in keys or len(batch) >= self.max_batch:
                later.append(entry)
            else:
                keys.add(key)
                batch.append(entry)
        self._pending = later
        return batch
