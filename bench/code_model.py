"""The code model (qwen2.5-coder-1.5b) through the local engine vs raw llama-cpp-python on the same file, in one run:
load time, prompt tokens/s and generated tokens/s, raw and engine alternating."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import Row
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.engine import BATCH, LocalEngine
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import CODE_MODEL, build_catalog

THREADS = 2
CONTEXT = 4096
MAX_TOKENS = 64
ROUNDS = 3
BODY = '''import statistics


def mean(values):
    """The arithmetic mean of a non-empty list of numbers."""
    total = 0
    for value in values:
        total += value
    return total / len(values)


def spread(values):
    """The largest value minus the smallest one."""
    return max(values) - min(values)


def summary(values):
    """Mean, median, spread and count of the values, as a dictionary."""
    return {
        "mean": mean(values),
        "median": statistics.median(values),
        "spread": spread(values),
        "count": len(values),
    }


def normalised(values):
    """Each value minus the mean, divided by the spread (all zeros when the spread is zero)."""
'''

Run = tuple[int, float, int, float]


def prompt_for(round_: int, who: str) -> str:
    """The same code with a first line of its own, so that no run reuses another's evaluated prompt."""
    return f"# {who} round {round_}\n{BODY}"


def rates(runs: list[Run]) -> tuple[float, float]:
    """Median prompt tokens/s (prompt tokens over the time to the first token) and generated tokens/s after it."""
    prompt = statistics.median(tokens / first for tokens, first, _, _ in runs)
    generated = statistics.median((count - 1) / rest for _, _, count, rest in runs if count > 1 and rest > 0)
    return prompt, generated


def raw_load(path: Path) -> tuple[Any, float]:
    """A raw Llama object on the file and the seconds it took to load."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llama = Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=THREADS, n_batch=BATCH, verbose=False)
    return llama, time.perf_counter() - start


def raw_run(llama: Any, prompt: str) -> Run:
    """Prompt tokens, seconds to the first token, tokens generated and the seconds after the first, raw."""
    tokens = len(llama.tokenize(prompt.encode("utf-8")))
    start = time.perf_counter()
    first = None
    count = 0
    for part in llama.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0, stream=True):
        count += 1
        if first is None and part["choices"][0]["text"]:
            first = time.perf_counter() - start
    total = time.perf_counter() - start
    return tokens, first or total, count, total - (first or total)


def engine_for() -> LocalEngine:
    """A local engine with the same threads and window as the raw runs."""
    settings = settings_from_dict({"local": {"threads": THREADS, "max_context": CONTEXT}}).settings
    return LocalEngine(build_catalog(settings), settings.local)


async def engine_load(path: Path) -> float:
    """Seconds for a fresh engine's pool to load the model (the trial run of a first use is benched apart)."""
    engine = engine_for()
    try:
        start = time.perf_counter()
        model = await engine.pool.acquire(CODE_MODEL, path)
        elapsed = time.perf_counter() - start
        engine.pool.release(model)
    finally:
        await engine.aclose()
    return elapsed


async def engine_run(engine: LocalEngine, prompt: str) -> Run:
    """The same as raw_run, through the engine's async stream."""
    start = time.perf_counter()
    first = None
    tokens = 0
    async for chunk in engine.stream(GenerationRequest(CODE_MODEL, prompt=prompt, max_tokens=MAX_TOKENS, temperature=0)):
        if first is None and chunk.text:
            first = time.perf_counter() - start
        if chunk.usage is not None:
            tokens = chunk.usage.prompt_tokens
    total = time.perf_counter() - start
    return tokens, first or total, int(engine.last_run["tokens"]), total - (first or total)


async def run() -> list[Row]:
    """Alternate raw and engine: loads first, then generation rounds on one loaded copy of each."""
    spec = build_catalog()[CODE_MODEL]
    path = await asyncio.to_thread(weights.require, spec, weights.models_dir_for())
    warm, _ = raw_load(path)
    warm.close()
    loads: dict[str, list[float]] = {"raw": [], "engine": []}
    for _ in range(ROUNDS):
        llama, seconds = raw_load(path)
        llama.close()
        loads["raw"].append(seconds)
        loads["engine"].append(await engine_load(path))
    raw, _ = raw_load(path)
    engine = engine_for()
    runs: dict[str, list[Run]] = {"raw": [], "engine": []}
    try:
        await engine_run(engine, prompt_for(-1, "engine"))
        raw_run(raw, prompt_for(-1, "raw"))
        for round_ in range(ROUNDS):
            runs["raw"].append(raw_run(raw, prompt_for(round_, "raw")))
            runs["engine"].append(await engine_run(engine, prompt_for(round_, "engine")))
    finally:
        await engine.aclose()
        raw.close()
    raw_prompt, raw_generated = rates(runs["raw"])
    ours_prompt, ours_generated = rates(runs["engine"])
    tokens = runs["raw"][0][0]
    note = (
        f"{CODE_MODEL} Q4_K_M ({path.stat().st_size / 1e9:.2f} GB), {THREADS} threads, {CONTEXT}-token window, "
        f"{tokens}-token prompt, {MAX_TOKENS} tokens generated, {ROUNDS} alternating rounds (medians)"
    )
    return [
        Row(
            f"{CODE_MODEL}: load time, local engine vs raw",
            statistics.median(loads["engine"]),
            statistics.median(loads["raw"]),
            "s",
            note=note,
        ),
        Row(f"{CODE_MODEL}: prompt tokens/s, local engine vs raw", ours_prompt, raw_prompt, "tok/s", note=note, digits=1),
        Row(
            f"{CODE_MODEL}: generated tokens/s, local engine vs raw", ours_generated, raw_generated, "tok/s", note=note, digits=1
        ),
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(row.note)
        print(f"| {row.what} ({row.unit}) | {row.ours:.3f} | {row.baseline:.3f} | {row.ratio:.3f} |")
