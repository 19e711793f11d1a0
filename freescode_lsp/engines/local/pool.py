"""Loaded llama.cpp models: lazy loading, LRU eviction past a memory budget, idle unload."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define, field

from freescode_lsp.engines.base import ModelLoadError
from freescode_lsp.engines.local.model_thread import ModelThread
from freescode_lsp.models.footprint import (
    Footprint,
    measured,
    resident_anonymous_bytes,
)

log = logging.getLogger(__name__)
CLOSE_WAIT_S = 30.0
LOAD_ATTEMPTS = 3
Loader = Callable[[str, Path], Any]
Predictor = Callable[[str, Path], Footprint]
OverBudget = Callable[[str, int, int], None]


@define(eq=False)
class LoadedModel:
    """One model in memory with the single thread that runs it."""

    model_id: str
    path: Path
    llama: Any
    footprint: Footprint
    executor: ModelThread
    last_used: float = field(factory=time.monotonic)
    in_use: int = 0

    @property
    def size_bytes(self) -> int:
        """The bytes this model counts against the budget."""
        return self.footprint.total

    def close(self) -> None:
        """Free the model once its thread has finished its work; a thread that never finishes keeps it."""
        if not self.executor.stop(CLOSE_WAIT_S):
            log.warning("%s: its thread is still busy after %g s; left running until exit", self.model_id, CLOSE_WAIT_S)
            return
        closer = getattr(self.llama, "close", None)
        if callable(closer):
            closer()
        self.llama = None


class SharedBudget:
    """A memory budget drawn on by one or more pools, with the one lock that guards all their models."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.lock = threading.Lock()
        self.pools: list[ModelPool] = []


class ModelPool:
    """Keeps models loaded while they fit the budget and are used, least recently used first out."""

    def __init__(self, loader: Loader, predictor: Predictor, budget_bytes: int, idle_unload_s: float) -> None:
        self._loader = loader
        self._predictor = predictor
        self._budget = SharedBudget(budget_bytes)
        self._budget.pools.append(self)
        self.idle_unload_s = idle_unload_s
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._guard = self._budget.lock
        self._load_lock = asyncio.Lock()
        self._loads: dict[tuple[str, Path], asyncio.Task[None]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.evictions: list[str] = []
        self.on_over_budget: OverBudget | None = None
        self._told_over_budget: set[str] = set()

    @property
    def budget_bytes(self) -> int:
        """The memory budget this pool shares with the pools drawing on the same budget."""
        return self._budget.budget_bytes

    def share_budget_with(self, other: ModelPool) -> None:
        """Draw on another pool's budget: models of both count against it, and either evicts the other's idle ones."""
        with self._guard:
            if self._models:
                raise RuntimeError("a pool can share a budget only before it loads a model")
            self._budget.pools.remove(self)
        self._budget = other._budget
        self._budget.pools.append(self)
        self._guard = self._budget.lock

    def loaded(self) -> list[str]:
        """Ids of the models in memory, least recently used first."""
        with self._guard:
            return list(self._models)

    def path_of(self, model_id: str) -> Path | None:
        """The file a loaded model was loaded from, or None when it is not loaded."""
        with self._guard:
            model = self._models.get(model_id)
            return model.path if model is not None else None

    def used_bytes(self) -> int:
        """The memory estimate of everything loaded."""
        with self._guard:
            return sum(model.size_bytes for model in self._models.values())

    async def acquire(self, model_id: str, path: Path) -> LoadedModel:
        """The loaded model, loading it (and evicting others) on first use; pair with release().

        A load outlives the requests waiting for it: one cancelled meanwhile (a superseded keystroke) leaves the
        model loading for the next request instead of starting the load again."""
        self._start_reaper()
        for _ in range(LOAD_ATTEMPTS):
            reused = self._reuse(model_id, path)
            if reused is not None:
                return reused
            await asyncio.shield(self._load_task(model_id, path))
        raise ModelLoadError(
            f"{model_id}: unloaded again before it could be used, {LOAD_ATTEMPTS} times; the memory budget is "
            "too small for the models in use at once"
        )

    def _load_task(self, model_id: str, path: Path) -> asyncio.Task[None]:
        """The running load of this model from this file, started if there is none."""
        key = (model_id, path)
        task = self._loads.get(key)
        if task is None:
            task = self._loads[key] = asyncio.get_running_loop().create_task(self._load(model_id, path))
            task.add_done_callback(lambda done: self._load_finished(key, done))
        return task

    def _load_finished(self, key: tuple[str, Path], task: asyncio.Task[None]) -> None:
        """Forget a finished load; its error reaches the requests waiting for it, and no one else."""
        if self._loads.get(key) is task:
            del self._loads[key]
        if not task.cancelled():
            task.exception()

    async def _load(self, model_id: str, path: Path) -> None:
        """Load the model into the pool, idle and most recently used, evicting others to fit the budget."""
        async with self._load_lock:
            if self.path_of(model_id) == path:
                return
            stale = self._take(model_id)
            if stale is not None:
                await asyncio.to_thread(stale.close)
            predicted = await asyncio.to_thread(self._predict, model_id, path)
            await self._evict_for(predicted.total)
            before = resident_anonymous_bytes()
            try:
                llama = await asyncio.to_thread(self._loader, model_id, path)
            except ModelLoadError:
                raise
            except Exception as exc:
                raise ModelLoadError(f"{model_id}: could not load {path.name}: {exc}") from exc
            after = resident_anonymous_bytes()
            growth = after - before if before is not None and after is not None else None
            model = LoadedModel(
                model_id,
                path,
                llama,
                measured(predicted, growth),
                ModelThread(f"llama-{model_id}"),
            )
            model.in_use = 1
            with self._guard:
                self._models[model_id] = model
            await self._evict_for(0)
            self._check_alone(model)
            self.release(model)

    def _check_alone(self, model: LoadedModel) -> None:
        """Say once per model when it alone needs more than the whole budget (it still runs, alone)."""
        if model.size_bytes <= self.budget_bytes or model.model_id in self._told_over_budget:
            return
        self._told_over_budget.add(model.model_id)
        if self.on_over_budget is not None:
            self.on_over_budget(model.model_id, model.size_bytes, self.budget_bytes)

    def _predict(self, model_id: str, path: Path) -> Footprint:
        """The loader's forecast of the model's memory; a file that cannot be read fails the load."""
        try:
            return self._predictor(model_id, path)
        except OSError as exc:
            raise ModelLoadError(f"{path} cannot be read: {exc.strerror or exc}") from exc
        except Exception as exc:
            raise ModelLoadError(f"{model_id}: {path} is not a usable GGUF file: {exc}") from exc

    async def _evict_for(self, incoming: int) -> None:
        """Unload idle models, least recently used first, until `incoming` more bytes fit the budget."""
        for victim in self._choose_victims(incoming):
            await asyncio.to_thread(victim.close)

    def _reuse(self, model_id: str, path: Path) -> LoadedModel | None:
        """The loaded model marked in use, if it is loaded from this path."""
        with self._guard:
            model = self._models.get(model_id)
            if model is None or model.path != path:
                return None
            model.in_use += 1
            self._models.move_to_end(model_id)
            return model

    def discard(self, model: LoadedModel) -> None:
        """Forget a model whose thread is stuck, without waiting for it."""
        with self._guard:
            if self._models.get(model.model_id) is model:
                del self._models[model.model_id]
        model.executor.shutdown(wait=False)

    def release(self, model: LoadedModel) -> None:
        """Mark one use of the model as finished."""
        with self._guard:
            model.in_use = max(0, model.in_use - 1)
            model.last_used = time.monotonic()

    def _take(self, model_id: str) -> LoadedModel | None:
        with self._guard:
            model = self._models.get(model_id)
            if model is None or model.in_use:
                return None
            return self._models.pop(model_id)

    def _choose_victims(self, incoming: int) -> list[LoadedModel]:
        """Idle models of every pool on this budget, least recently used first, until `incoming` more bytes fit."""
        victims = []
        with self._guard:
            resident = [(model, pool) for pool in self._budget.pools for model in pool._models.values()]
            total = sum(model.size_bytes for model, _ in resident)
            for model, pool in sorted(resident, key=lambda pair: pair[0].last_used):
                if total + incoming <= self.budget_bytes:
                    break
                if model.in_use:
                    continue
                del pool._models[model.model_id]
                pool.evictions.append(model.model_id)
                victims.append(model)
                total -= model.size_bytes
        return victims

    async def unload_idle(self) -> list[str]:
        """Unload models unused for longer than the idle limit; return their ids."""
        now = time.monotonic()
        idle = []
        with self._guard:
            for model_id, model in list(self._models.items()):
                if not model.in_use and now - model.last_used >= self.idle_unload_s:
                    idle.append(self._models.pop(model_id))
        for model in idle:
            await asyncio.to_thread(model.close)
        return [model.model_id for model in idle]

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.idle_unload_s / 2, 30.0))
        while True:
            await asyncio.sleep(interval)
            await self.unload_idle()

    async def close(self) -> None:
        """Stop the idle reaper and the loads in progress, and unload everything."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        loads = list(self._loads.values())
        for load in loads:
            load.cancel()
        await asyncio.gather(*loads, return_exceptions=True)
        with self._guard:
            models = list(self._models.values())
            self._models.clear()
        for model in models:
            await asyncio.to_thread(model.close)
