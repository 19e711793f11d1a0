"""A second request sharing a long prefix (llama.cpp KV prefix reuse) against the same request cold, one process."""

from __future__ import annotations

import asyncio
import statistics
import time

from bench.common import Row
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog

ROUNDS = 5
THREADS = 2
CONTEXT = 2048
FUNCTIONS = 12


def prefix() -> str:
    """A file's worth of code (about 500 tokens) that both requests share."""
    return "".join(
        f"def step_{i}(state, delta):\n    total = state + delta * {i}\n    if total > {i * 3}:\n"
        f"        return total - {i}\n    return total\n\n"
        for i in range(FUNCTIONS)
    )


def request(question: str) -> GenerationRequest:
    """The shared prefix plus a short question, a few tokens of answer."""
    return GenerationRequest(DEFAULT_MODEL, prompt=prefix() + f"# {question}\n", max_tokens=4, temperature=0)


async def first_token(engine: LocalEngine, question: str) -> float:
    """Seconds to the first streamed token of one request."""
    start = time.perf_counter()
    async for chunk in engine.stream(request(question)):
        if chunk.text:
            elapsed = time.perf_counter() - start
            break
    else:
        elapsed = time.perf_counter() - start
    return elapsed


async def reset(engine: LocalEngine) -> None:
    """Forget the evaluated tokens on the model's own thread, after the request still finishing there."""
    for model in engine.pool._models.values():
        await asyncio.wrap_future(model.executor.submit(model.llama.reset))


async def run() -> list[Row]:
    """Alternate: prime with question A, time question B warm, reset, time question B cold."""
    settings = settings_from_dict({"local": {"threads": THREADS, "max_context": CONTEXT}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    warm, cold = [], []
    try:
        await first_token(engine, "warm up")
        for round_ in range(ROUNDS):
            await first_token(engine, f"What does step_{round_} return?")
            warm.append(await first_token(engine, f"Which function adds {round_}?"))
            await reset(engine)
            cold.append(await first_token(engine, f"Which function adds {round_}?"))
        tokens = len(engine.pool._models[DEFAULT_MODEL].llama.tokenize(prefix().encode()))
    finally:
        await engine.aclose()
    note = f"local engine, gemma-3-270m, {tokens}-token shared prefix, {THREADS} threads, {ROUNDS} rounds, medians"
    return [
        Row(
            "second request, same file: time to first token, KV prefix reused vs cold",
            statistics.median(warm) * 1000,
            statistics.median(cold) * 1000,
            "ms",
            note=note,
            digits=1,
        )
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(row.note)
        print(f"| {row.what} ({row.unit}) | {row.ours:.1f} | {row.baseline:.1f} | {row.ratio:.3f} |")
