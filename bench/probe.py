"""What the model probe costs: a model's first use (trial run in a child) and later uses, against raw loading."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row
from bench.local_engine import CONTEXT, THREADS
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.engines.local.trial import ModelProbe
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog

PROMPT = "def fibonacci(n):\n"
ROUNDS = 3
LOOKUPS = 1000


def raw_first_token(path: Path) -> float:
    """Seconds to load the model with llama-cpp-python and produce one token."""
    from llama_cpp import Llama

    start = time.perf_counter()
    llama = Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=THREADS, n_batch=512, verbose=False)
    llama.create_completion(PROMPT, max_tokens=1, temperature=0)
    seconds = time.perf_counter() - start
    llama.close()
    return seconds


async def engine_first_token(verdicts: Path) -> float:
    """Seconds from a fresh engine's first request to its first token, verdicts kept in `verdicts`."""
    settings = settings_from_dict({"local": {"threads": THREADS, "max_context": CONTEXT}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    engine.probe = ModelProbe(verdicts, threads=THREADS)
    start = time.perf_counter()
    async for chunk in engine.stream(GenerationRequest(DEFAULT_MODEL, prompt=PROMPT, max_tokens=1, temperature=0)):
        if chunk.text or chunk.usage:
            break
    seconds = time.perf_counter() - start
    await engine.aclose()
    return seconds


async def run() -> list[Row]:
    """Rows for the first use (probe runs), a later use (verdict on disk) and the verdict lookup alone."""
    path = weights.ensure_embedded()
    first, later, raw = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(ROUNDS):
            verdicts = Path(folder) / f"round{round_}"
            raw.append(raw_first_token(path))
            first.append(await engine_first_token(verdicts))
            later.append(await engine_first_token(verdicts))
        probe = ModelProbe(Path(folder) / "round0")
        start = time.perf_counter()
        for _ in range(LOOKUPS):
            probe._known.clear()
            probe.known(path)
        lookup_ms = (time.perf_counter() - start) / LOOKUPS * 1000
    note = f"gemma-3-270m Q4_K_M, {THREADS} threads, load + 1 token, {ROUNDS} alternating rounds (medians)"
    return [
        Row(
            "first use of a model (trial run in a child, then load + first token) vs raw load + first token",
            statistics.median(first),
            statistics.median(raw),
            "s",
            note=note,
        ),
        Row(
            "later use (verdict read from disk, load + first token) vs raw load + first token",
            statistics.median(later),
            statistics.median(raw),
            "s",
            note=note,
        ),
        Row("verdict lookup on a later use (stat + read)", lookup_ms, None, "ms", note=note),
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(f"{row.what}: {row.ours:.3f} {row.unit} vs {row.baseline} {row.unit}")
