"""The one thread that runs a loaded model's jobs: a daemon, so a job stuck in native code never blocks exit."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ModelThread(Executor):
    """Runs jobs one at a time, in order, on a single daemon thread."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Queue a job; its future completes when the thread has run it."""
        if self._closed:
            raise RuntimeError("this model's thread is closed")
        future: Future[Any] = Future()
        self._jobs.put((future, fn, args, kwargs))
        return future

    def waiting(self) -> bool:
        """Whether a job is queued behind the one running (background work then gives way)."""
        return not self._jobs.empty()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn, args, kwargs = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - the caller gets every failure through the future
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop after the queued jobs; with `wait`, until the thread has ended."""
        self._closed = True
        self._jobs.put(None)
        if wait:
            self._thread.join()

    def stop(self, timeout: float | None) -> bool:
        """Stop after the queued jobs; True once the thread has ended within `timeout`."""
        self.shutdown(wait=False)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def busy_forever(self) -> bool:
        """Whether the thread outlived a shutdown: its job never ended."""
        return self._closed and self._thread.is_alive()
