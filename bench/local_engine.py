"""Local engine vs raw llama-cpp-python on the same prompt, alternating, in one process."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from bench.common import Row
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog

PROMPT = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n'
MAX_TOKENS = 96
ROUNDS = 15
THREADS = 2
CONTEXT = 2048


def raw_run(llama: Any) -> tuple[float, float, int]:
    """Time to first token, seconds, and tokens for one raw streamed completion."""
    start = time.perf_counter()
    first = None
    tokens = 0
    for part in llama.create_completion(PROMPT, max_tokens=MAX_TOKENS, temperature=0, stream=True):
        if part["choices"][0]["text"] and first is None:
            first = time.perf_counter() - start
        tokens += 1
    return first or 0.0, time.perf_counter() - start, tokens


async def engine_run(engine: LocalEngine) -> tuple[float, float, int]:
    """The same through the local engine's async stream."""
    start = time.perf_counter()
    first = None
    completion = 0
    request = GenerationRequest(DEFAULT_MODEL, prompt=PROMPT, max_tokens=MAX_TOKENS, temperature=0)
    async for chunk in engine.stream(request):
        if chunk.text and first is None:
            first = time.perf_counter() - start
        if chunk.usage is not None:
            completion = engine.last_run["tokens"]
    return first or 0.0, time.perf_counter() - start, completion


def rate(rows: list[tuple[float, float, int]]) -> float:
    """Median tokens per second."""
    return statistics.median(tokens / seconds for _, seconds, tokens in rows)


def ttft(rows: list[tuple[float, float, int]]) -> float:
    """Median time to first token, milliseconds."""
    return statistics.median(first for first, _, _ in rows) * 1000


async def run() -> list[Row]:
    """Alternate raw and engine runs; rows of tokens/s and time to first token."""
    from llama_cpp import Llama

    path = weights.ensure_embedded()
    raw = Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=THREADS, n_batch=512, verbose=False)
    settings = settings_from_dict({"local": {"threads": THREADS, "max_context": CONTEXT}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    await engine_run(engine)
    raw_run(raw)
    results: dict[str, list[tuple[float, float, int]]] = {"raw": [], "engine": []}
    for _ in range(ROUNDS):
        results["raw"].append(raw_run(raw))
        results["engine"].append(await engine_run(engine))
    await engine.aclose()
    raw.close()
    note = f"gemma-3-270m Q4_K_M, {THREADS} threads, {MAX_TOKENS} tokens, {ROUNDS} alternating rounds (medians)"
    return [
        Row(
            "local engine vs raw llama-cpp-python, tokens/s",
            rate(results["engine"]),
            rate(results["raw"]),
            "tok/s",
            note=note,
            digits=1,
        ),
        Row(
            "local engine vs raw llama-cpp-python, time to first token",
            ttft(results["engine"]),
            ttft(results["raw"]),
            "ms",
            note=note,
            digits=1,
        ),
    ]


async def main() -> None:
    rows = await run()
    print(rows[0].note)
    print("| what | raw llama-cpp-python | local engine | ratio |")
    print("|---|---|---|---|")
    for row, label in zip(rows, ("tokens/s", "time to first token (ms)"), strict=True):
        print(f"| {label} | {row.baseline:.1f} | {row.ours:.1f} | {row.ratio:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
