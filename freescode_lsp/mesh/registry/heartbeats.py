"""Heartbeats stored in batches: the ones that arrive while a batch is being written go together into the next.

Under a light load every heartbeat is written at once, alone; under thousands a second, one statement and one
commit (one WAL flush on PostgreSQL) serve many, and no heartbeat waits for more than the write before its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from freescode_lsp.mesh.registry.records import Heartbeat, Node

MAX_BATCH = 500

Beat = tuple[str, str, Heartbeat, float]
WriteBeats = Callable[[Sequence[Beat]], dict[str, Node]]


class HeartbeatBatcher:
    """Writes heartbeats through `write` (blocking, run in a worker thread), one batch at a time."""

    def __init__(self, write: WriteBeats, max_batch: int = MAX_BATCH) -> None:
        self.write = write
        self.max_batch = max_batch
        self.batches = 0
        self._pending: list[tuple[Beat, asyncio.Future[Node | None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Heartbeats not yet in a batch being written."""
        return len(self._pending)

    async def beat(self, node_id: str, owner: str, beat: Heartbeat, now: float) -> Node | None:
        """Store one heartbeat: the node renewed, or None when it is unknown or not `owner`'s."""
        answer: asyncio.Future[Node | None] = asyncio.get_running_loop().create_future()
        self._pending.append(((node_id, owner, beat, now), answer))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_all())
        return await answer

    async def _write_all(self) -> None:
        try:
            while self._pending:
                batch = self._next_batch()
                try:
                    found = await asyncio.to_thread(self.write, [beat for beat, _ in batch])
                except Exception as exc:  # noqa: BLE001 - every waiting request gets the store's error
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                self.batches += 1
                for (node_id, _, _, _), answer in batch:
                    if not answer.done():
                        answer.set_result(found.get(node_id))
        finally:
            self._writer = None

    def _next_batch(self) -> list[tuple[Beat, asyncio.Future[Node | None]]]:
        """Up to max_batch waiting heartbeats, at most one per node (a node's second one waits for the next batch)."""
        batch: list[tuple[Beat, asyncio.Future[Node | None]]] = []
        later: list[tuple[Beat, asyncio.Future[Node | None]]] = []
        nodes: set[str] = set()
        for item in self._pending:
            node_id = item[0][0]
            if node_id in nodes or len(batch) >= self.max_batch:
                later.append(item)
            else:
                nodes.add(node_id)
                batch.append(item)
        self._pending = later
        return batch
