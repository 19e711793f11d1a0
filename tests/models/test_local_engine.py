"""The local llama.cpp engine on the real embedded gemma-3-270m model."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import (
    GenerationRequest,
    ModelLoadError,
    SurroundingCode,
)
from freescode_lsp.engines.local.engine import BATCH, LocalEngine, render_prompt
from freescode_lsp.models import footprint
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog
from freescode_lsp.routing.router import AllCandidatesFailed, Router
from freescode_lsp.testing.answers import collect

COUNTING = "Numbers from one to one hundred: 1, 2, 3, 4, 5, 6,"


def engine_for(raw: dict) -> LocalEngine:
    settings = settings_from_dict(raw).settings
    return LocalEngine(build_catalog(settings), settings.local)


@pytest.fixture
def gemma_settings(gemma_path: Path) -> dict:
    return {"local": {"max_context": 1024, "threads": 2}}


async def test_loads_lazily_and_streams_several_chunks(gemma_settings: dict) -> None:
    engine = engine_for(gemma_settings)
    try:
        assert engine.pool.loaded() == []
        chunks = await collect(engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=24, temperature=0)))
        assert engine.pool.loaded() == [DEFAULT_MODEL]
        texts = [c.text for c in chunks if c.text]
        assert len(texts) >= 5
        final = chunks[-1]
        assert final.usage is not None and final.usage.prompt_tokens > 5
        assert 0 < final.usage.completion_tokens <= 24
        assert {c.model for c in chunks} == {DEFAULT_MODEL} and {c.engine for c in chunks} == {"local"}
        assert any(ch.isdigit() for ch in "".join(texts))
    finally:
        await engine.aclose()


async def test_cancelling_the_consumer_stops_generation_within_a_token(gemma_settings: dict) -> None:
    engine = engine_for(gemma_settings)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=400, temperature=0)):
            seen.append(chunk.text)
            if len(seen) == 4:
                started.set()

    started = asyncio.Event()
    try:
        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stats = engine.last_run
        assert stats["tokens"] <= len(seen) + 2, stats
        model = next(iter(engine.pool._models.values()))
        assert model.in_use == 0
        follow_up = await collect(
            engine.stream(GenerationRequest(DEFAULT_MODEL, prompt="def add(a, b):", max_tokens=8, temperature=0))
        )
        assert follow_up[-1].usage is not None
    finally:
        await engine.aclose()


async def test_lru_eviction_under_a_small_budget(gemma_path: Path, tmp_path: Path) -> None:
    copies = {}
    for name in ("alpha", "beta", "gamma"):
        copies[name] = tmp_path / f"{name}.gguf"
        shutil.copyfile(gemma_path, copies[name])
    one_model = footprint.predict(gemma_path, 512, BATCH).total
    assert one_model > gemma_path.stat().st_size
    raw = {
        "local": {"memory_budget_gb": one_model * 2.5 / 1024**3, "max_context": 512, "threads": 2},
        "models": {n: {"gguf": str(p), "prompt_style": "completion", "context": 512} for n, p in copies.items()},
    }
    engine = engine_for(raw)
    try:
        for name in ("alpha", "beta", "alpha", "gamma"):
            await collect(engine.stream(GenerationRequest(name, prompt="x = ", max_tokens=2, temperature=0)))
        assert engine.pool.loaded() == ["alpha", "gamma"]
        assert engine.pool.evictions == ["beta"]
        assert engine.pool.used_bytes() <= engine.pool.budget_bytes
    finally:
        await engine.aclose()


async def test_a_model_larger_than_the_budget_runs_alone_and_says_so(gemma_path: Path) -> None:
    engine = engine_for({"local": {"memory_budget_gb": 0.1, "max_context": 512, "threads": 2}})
    told: list[str] = []
    engine.warn = told.append
    try:
        for _ in range(2):
            chunks = await collect(engine.stream(GenerationRequest(DEFAULT_MODEL, prompt="x = ", max_tokens=2)))
            assert chunks[-1].usage is not None
        assert engine.pool.loaded() == [DEFAULT_MODEL]
        assert len(told) == 1
        needed = footprint.human_bytes(engine.pool.used_bytes())
        assert told[0] == (
            f"gemma-3-270m needs about {needed} with a 512-token window, more than [local] memory_budget_gb = 0.1; "
            "it runs alone, with every other local model unloaded. Raise the budget or lower [local] max_context."
        )
    finally:
        await engine.aclose()


async def test_idle_models_are_unloaded(gemma_settings: dict) -> None:
    engine = engine_for({**gemma_settings, "local": {**gemma_settings["local"], "idle_unload_s": 0.3}})
    try:
        await collect(engine.stream(GenerationRequest(DEFAULT_MODEL, prompt="x = ", max_tokens=2)))
        assert engine.pool.loaded() == [DEFAULT_MODEL]
        for _ in range(100):
            if not engine.pool.loaded():
                break
            await asyncio.sleep(0.1)
        assert engine.pool.loaded() == []
    finally:
        await engine.aclose()


async def test_prompt_is_cut_to_the_window_keeping_the_target(gemma_settings: dict) -> None:
    raw = {"local": {"max_context": 256}, "models": {DEFAULT_MODEL: {"context": 256}}}
    engine = engine_for(raw)
    lines = tuple(f"value_{i} = compute({i})" for i in range(400))
    surrounding = SurroundingCode(lines, 200, 202, marker="# TARGET")
    from freescode_lsp.engines.base import CONTEXT_PLACEHOLDER

    request = GenerationRequest(
        DEFAULT_MODEL, prompt=f"Context:\n{CONTEXT_PLACEHOLDER}\nThe end.\n", max_tokens=64, surrounding=surrounding
    )
    try:
        chunks = await collect(engine.stream(request))
        prompt = engine.last_run["prompt"]
        assert "# TARGET" in prompt and "value_199" in prompt and "value_202" in prompt
        assert "value_0 " not in prompt and "value_399" not in prompt
        assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens <= 256 - 64
        model = next(iter(engine.pool._models.values()))
        spec = engine.catalog[DEFAULT_MODEL]
        wider, _ = render_prompt(model.llama, spec, request, 1024)
        assert len(wider) > len(prompt)
    finally:
        await engine.aclose()


async def test_json_schema_output_parses(gemma_settings: dict) -> None:
    from freescode_lsp.tasks.prompts import DEBUG_SCHEMA

    engine = engine_for(gemma_settings)
    request = GenerationRequest(
        DEFAULT_MODEL,
        prompt="def div(a, b):\n    return a / b\n\nBugs as JSON: ",
        max_tokens=600,
        json_schema=DEBUG_SCHEMA,
        temperature=0,
    )
    try:
        text = "".join(c.text for c in await collect(engine.stream(request)))
        data = json.loads(text)
        assert isinstance(data["bugs"], list)
        for bug in data["bugs"]:
            assert set(bug) == {"line", "end_line", "severity", "message"}
    finally:
        await engine.aclose()


async def test_corrupt_file_falls_back_along_the_chain(gemma_path: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x00garbage" * 1000)
    raw = {
        "local": {"max_context": 512, "threads": 2},
        "models": {"broken": {"gguf": str(corrupt), "prompt_style": "completion", "context": 512}},
    }
    settings = settings_from_dict(raw).settings
    router = Router.from_settings(settings)
    fallbacks: list[tuple[str, str]] = []
    router.on_fallback = lambda label, why: fallbacks.append((label, why))
    try:
        chunks = [c async for c in router.stream(GenerationRequest("broken", prompt="x = 1", max_tokens=4))]
        assert {c.model for c in chunks} == {DEFAULT_MODEL}
        assert fallbacks and fallbacks[0][0] == "broken@local" and "failed while loading" in fallbacks[0][1]
        with pytest.raises(ModelLoadError):
            await collect(router.local.stream(GenerationRequest("broken", prompt="x", max_tokens=2)))
    finally:
        await router.local.aclose()


async def test_missing_file_is_skipped_and_named(gemma_path: Path, tmp_path: Path) -> None:
    raw = {"models": {"ghost": {"gguf": str(tmp_path / "nowhere.gguf"), "fallback": []}}, "local": {"max_context": 512}}
    router = Router.from_settings(settings_from_dict(raw).settings)
    try:
        chunks = [c async for c in router.stream(GenerationRequest("ghost", prompt="x = 1", max_tokens=3))]
        assert chunks[-1].model == DEFAULT_MODEL
        local_only = Router.from_settings(settings_from_dict({**raw, "network": {"mode": "remote-only"}}).settings)
        with pytest.raises(AllCandidatesFailed) as failure:
            [c async for c in local_only.stream(GenerationRequest("ghost", prompt="x", max_tokens=2))]
        assert "ghost: no node serves it" in str(failure.value)
    finally:
        await router.local.aclose()


async def test_a_request_cancelled_during_the_load_leaves_the_model_loading_for_the_next(gemma_settings: dict) -> None:
    """Typing through a cold start: a superseded request returns at once, and its load serves the next request."""
    engine = engine_for(gemma_settings)
    real_loader, loads = engine.pool._loader, []
    loading, gate = threading.Event(), threading.Event()

    def held_loader(model_id: str, path: Path) -> object:
        loads.append(model_id)
        loading.set()
        gate.wait(60)
        return real_loader(model_id, path)

    engine.pool._loader = held_loader
    request = GenerationRequest(DEFAULT_MODEL, prompt="def add(a, b):", max_tokens=4, temperature=0)
    try:
        superseded = asyncio.create_task(collect(engine.stream(request)))
        assert await asyncio.to_thread(loading.wait, 60)
        superseded.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(superseded, 5)
        assert engine.pool.loaded() == []
        following = asyncio.create_task(collect(engine.stream(request)))
        await asyncio.sleep(0.2)
        gate.set()
        chunks = await asyncio.wait_for(following, 120)
        assert chunks[-1].usage is not None
        assert loads == [DEFAULT_MODEL], "the model was loaded again for the next request"
        assert [model.in_use for model in engine.pool._models.values()] == [0]
    finally:
        gate.set()
        await engine.aclose()


async def test_two_requests_on_one_model_run_one_at_a_time(gemma_settings: dict) -> None:
    engine = engine_for(gemma_settings)
    try:
        first, second = await asyncio.gather(
            collect(engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=12, temperature=0))),
            collect(engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=COUNTING, max_tokens=12, temperature=0))),
        )
        assert "".join(c.text for c in first) == "".join(c.text for c in second)
    finally:
        await engine.aclose()


async def test_chat_models_get_the_gguf_chat_template(gemma_path: Path) -> None:
    from freescode_lsp.engines.base import Message

    engine = engine_for({"local": {"max_context": 512}, "models": {DEFAULT_MODEL: {"prompt_style": "chat"}}})
    request = GenerationRequest(
        DEFAULT_MODEL, messages=[Message("user", "Say hi.")], prompt="RAW PROMPT", max_tokens=4, temperature=0
    )
    try:
        await collect(engine.stream(request))
        assert engine.last_run["prompt"] == "User: Say hi.\n\nAssistant:"
        model = next(iter(engine.pool._models.values()))
        model.llama.metadata["tokenizer.chat_template"] = (
            "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}<end_of_turn>\n{% endfor %}<start_of_turn>model\n"
        )
        chunks = await collect(engine.stream(request))
        assert engine.last_run["prompt"] == "<start_of_turn>user\nSay hi.<end_of_turn>\n<start_of_turn>model"
        assert chunks[-1].usage is not None
    finally:
        await engine.aclose()


async def test_auto_pull_downloads_a_routed_model_on_first_use(tmp_path: Path, gemma_path: Path) -> None:
    settings = settings_from_dict({"local": {"auto_pull": True}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    assert engine.can_serve("code-llama-7b")
    assert not LocalEngine(build_catalog(), settings_from_dict({}).settings.local).can_serve("code-llama-7b")
