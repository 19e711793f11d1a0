"""How many requests a node gateway lets through at once, and how many it lets wait."""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Coroutine
from typing import Any

from freescode_lsp.errors import FreescodeError


class Busy(FreescodeError):
    """Every slot is taken and the queue is full; retry after `retry_after_s`."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the node is busy; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Limiter:
    """At most `max_concurrent` requests in flight and `queue` waiting, served in arrival order."""

    def __init__(self, max_concurrent: int, queue: int) -> None:
        self.max_concurrent = max_concurrent
        self.queue = queue
        self.in_flight = 0
        self.waiting = 0
        self._slots = asyncio.Semaphore(max_concurrent)
        self._durations: deque[float] = deque(maxlen=20)

    @property
    def load(self) -> int:
        """Requests in flight plus requests waiting."""
        return self.in_flight + self.waiting

    def retry_after_s(self) -> int:
        """A guess at when a slot frees up: the recent mean duration times the requests ahead, per slot."""
        mean = sum(self._durations) / len(self._durations) if self._durations else 1.0
        ahead = (self.waiting + 1) / self.max_concurrent
        return max(1, math.ceil(mean * ahead))

    async def acquire(self) -> None:
        """Take a slot, waiting in the queue if needed; Busy when the queue is full."""
        if self._slots.locked() and self.waiting >= self.queue:
            raise Busy(self.retry_after_s())
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.in_flight += 1

    async def acquire_unless(self, gone: Coroutine[Any, Any, None]) -> bool:
        """Take a slot like `acquire`, unless `gone` finishes first (the client left): then False, and no slot."""
        slot = asyncio.ensure_future(self.acquire())
        left = asyncio.ensure_future(gone)
        try:
            await asyncio.wait({slot, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (slot, left):
                if not task.done():
                    task.cancel()
            await asyncio.gather(slot, left, return_exceptions=True)
        if slot.cancelled():
            return False
        if (error := slot.exception()) is not None:
            raise error
        if left.done() and not left.cancelled():
            self.release(0.0)
            return False
        return True

    def release(self, duration_s: float) -> None:
        """Give a slot back and remember how long it was held."""
        self.in_flight -= 1
        self._durations.append(duration_s)
        self._slots.release()
