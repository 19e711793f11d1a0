"""Garbage collection for the long-running services: no full collection in the middle of the answers.

CPython collects every generation once the objects that outlived two young collections have grown by a quarter.
A registry that renews thousands of node records a second gets there about once a second, and a full collection
walks every object in the process (tens of ms at 10,000 nodes) while no request is answered. Here the objects
that exist when serving starts (modules, settings, the app) are frozen, so no collection walks them again;
automatic full collections are off, and one runs every FULL_EVERY_S instead. Young collections, which free
the cyclic garbage of nearly every request, run as before; reference counting frees the rest at once.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

FULL_EVERY_S = 60.0
NO_AUTOMATIC_FULL = 1_000_000_000


async def with_scheduled_collections(main: Coroutine[Any, Any, T], every_s: float = FULL_EVERY_S) -> T:
    """Run `main` with the objects made so far frozen and one full collection every `every_s`, not CPython's own."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], NO_AUTOMATIC_FULL)
    collector = asyncio.ensure_future(_collect_fully(every_s))
    try:
        return await main
    finally:
        collector.cancel()
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def _collect_fully(every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        gc.collect()
