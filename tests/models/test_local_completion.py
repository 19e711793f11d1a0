"""Completions on the local engine: a lane of their own, the KV prefix reused between keystrokes, the model
stopped within a token when the completion is dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest, Infill
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog
from freescode_lsp.testing.answers import collect

llama_cpp = pytest.importorskip("llama_cpp")

PREFIX = 'import math\n\n\ndef area(radius):\n    """Area of a circle."""\n' + "    # area = pi r squared\n" * 30
COUNTING = "Numbers from one to one thousand: 1, 2, 3, 4, 5, 6,"


@pytest.fixture
def engine(gemma_path: Path) -> LocalEngine:
    settings = settings_from_dict({"local": {"max_context": 2048, "threads": 2}}).settings
    return LocalEngine(build_catalog(settings), settings.local)


def completion(prefix: str, max_tokens: int = 8) -> GenerationRequest:
    return GenerationRequest(DEFAULT_MODEL, prompt=prefix, max_tokens=max_tokens, temperature=0, infill=Infill(prefix, "\n"))


@pytest.fixture
def evaluated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Tokens llama.cpp evaluates per call of Llama.eval (prompt tokens not found in the KV cache, then one a step)."""
    counts: list[int] = []
    original = llama_cpp.Llama.eval

    def counting(self: Any, tokens: Any) -> Any:
        counts.append(len(tokens))
        return original(self, tokens)

    monkeypatch.setattr(llama_cpp.Llama, "eval", counting)
    return counts


async def test_the_next_keystroke_reuses_the_kv_cache_of_the_prompt(
    engine: LocalEngine, evaluated: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("freescode_lsp.engines.local.completion.PROMPT_BUDGET_S", 60.0)  # the whole window, however busy
    try:
        [chunk async for chunk in engine.stream(completion(PREFIX + "    return "))]
        assert engine.lane is not None
        evaluated.clear()
        chunks = [chunk async for chunk in engine.stream(completion(PREFIX + "    return m"))]
        prompt_tokens = chunks[-1].usage.prompt_tokens if chunks[-1].usage is not None else 0
        assert 0 < evaluated[0] < 10 and prompt_tokens > 30, (prompt_tokens, evaluated)
    finally:
        await engine.aclose()


async def test_completions_run_beside_a_long_generation_on_the_same_model(engine: LocalEngine) -> None:
    long = engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=400, temperature=0))
    try:
        first = await anext(long)
        assert first.text
        chunks = [chunk async for chunk in engine.stream(completion(PREFIX + "    return "))]
        assert chunks[-1].usage is not None
        rest = [chunk async for chunk in long]
        assert sum(1 for chunk in rest if chunk.text) > 8, "the long generation had ended before the completion ran"
        assert engine.pool.loaded() == [DEFAULT_MODEL] and engine.lane is not None
        assert engine.lane.pool.loaded() == [DEFAULT_MODEL]
    finally:
        await long.aclose()
        await engine.aclose()


async def test_a_dropped_completion_stops_the_model_within_a_token(engine: LocalEngine) -> None:
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in engine.stream(completion(COUNTING, max_tokens=300)):
            seen.append(chunk.text)

    try:
        task = asyncio.ensure_future(consume())
        while len(seen) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert engine.lane is not None
        stats = engine.lane.last_run
        assert stats["tokens_after_cancel"] <= 1 and stats["tokens"] < 300, stats
    finally:
        await engine.aclose()


async def test_a_completion_and_a_task_loading_the_model_at_once_both_answer(gemma_path: Path) -> None:
    """llama.cpp cannot load two models at the same moment in one process: the loads take turns."""
    for _ in range(2):
        settings = settings_from_dict({"local": {"max_context": 1024, "threads": 2}}).settings
        engine = LocalEngine(build_catalog(settings), settings.local)
        try:
            task = GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=4, temperature=0)
            both = await asyncio.gather(collect(engine.stream(task)), collect(engine.stream(completion(PREFIX + "    return "))))
            assert all(chunks and chunks[-1].usage is not None for chunks in both)
        finally:
            await engine.aclose()


async def test_the_lane_and_the_engine_share_one_memory_budget(gemma_path: Path) -> None:
    """Room for one copy: a completion unloads the engine's idle copy, a task unloads the lane's; room for two: both stay."""
    from freescode_lsp.engines.local.completion import lane_for
    from freescode_lsp.models import footprint

    one_copy = footprint.predict(gemma_path, 2048, footprint.DEFAULT_BATCH).total
    for copies, kept in ((1.5, ([], [DEFAULT_MODEL])), (2.5, ([DEFAULT_MODEL], [DEFAULT_MODEL]))):
        raw = {"local": {"max_context": 2048, "threads": 2, "memory_budget_gb": one_copy * copies / 1024**3}}
        settings = settings_from_dict(raw).settings
        engine = LocalEngine(build_catalog(settings), settings.local)
        try:
            task = GenerationRequest(DEFAULT_MODEL, prompt="x = ", max_tokens=2, temperature=0)
            await collect(engine.stream(task))
            await collect(engine.stream(completion(PREFIX, max_tokens=2)))
            lane = lane_for(engine)
            assert (engine.pool.loaded(), lane.pool.loaded()) == kept, copies
            if copies < 2:
                assert engine.pool.evictions == [DEFAULT_MODEL]
                await collect(engine.stream(task))
                assert (engine.pool.loaded(), lane.pool.loaded()) == ([DEFAULT_MODEL], [])
                assert lane.pool.evictions == [DEFAULT_MODEL]
        finally:
            await engine.aclose()


async def test_a_fill_cut_short_survives_a_stop_gap_suggestion(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    from freescode_lsp.engines.local.completion import cached_tokens, lane_for, note_of
    from freescode_lsp.engines.local.prefill import prefill

    monkeypatch.setattr("freescode_lsp.engines.local.completion.PROMPT_BUDGET_S", 0.0)  # every prompt a stop-gap
    long_prefix = "".join(f"def area_{n}(radius):\n    return 3.14159 * radius * radius * {n}\n\n\n" for n in range(60))
    try:
        await collect(engine.stream(completion("x = ")))
        lane = lane_for(engine)
        path = lane.pool.path_of(DEFAULT_MODEL)
        assert path is not None
        model = await lane.pool.acquire(DEFAULT_MODEL, path)
        lane.pool.release(model)
        filling = asyncio.ensure_future(prefill(engine, completion(long_prefix + "def next_one(")))
        while len(cached_tokens(model.llama)) < 200:
            await asyncio.sleep(0.005)
        filling.cancel()
        await asyncio.wait([filling])
        fill = cached_tokens(model.llama)
        assert note_of(model.llama).partial_fill and len(fill) >= 200
        chunks = await collect(engine.stream(completion(long_prefix + "def next_one(r")))
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens < len(fill)
        assert cached_tokens(model.llama) == fill
    finally:
        await engine.aclose()
