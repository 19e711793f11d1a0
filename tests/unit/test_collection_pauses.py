"""Scheduled full collections for the services: start-up frozen, no automatic full collection, one every period."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from freescode_lsp.mesh.collection_pauses import NO_AUTOMATIC_FULL, with_scheduled_collections


class Cycle:
    """An object that refers to itself, so only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_serving_freezes_start_up_turns_automatic_full_collections_off_and_restores_both() -> None:
    before = gc.get_threshold()
    seen: dict[str, Any] = {}

    async def serve() -> str:
        seen["threshold"] = gc.get_threshold()
        seen["frozen"] = gc.get_freeze_count()
        return "served"

    assert asyncio.run(with_scheduled_collections(serve())) == "served"
    assert seen["threshold"] == (before[0], before[1], NO_AUTOMATIC_FULL)
    assert seen["frozen"] > 1000
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cyclic_garbage_that_outlived_young_collections_is_freed_by_the_scheduled_full_one() -> None:
    full: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full.append(info["collected"])

    async def serve() -> bool:
        cycle = Cycle()
        gone = weakref.ref(cycle)
        gc.collect(0)
        gc.collect(1)
        del cycle
        gc.collect(1)
        alive_after_young = gone() is not None
        gc.callbacks.append(count)
        try:
            for _ in range(100):
                await asyncio.sleep(0.02)
                if gone() is None:
                    break
        finally:
            gc.callbacks.remove(count)
        return alive_after_young and gone() is None

    assert asyncio.run(with_scheduled_collections(serve(), every_s=0.1))
    assert full and full[0] >= 1
