"""Resident memory of the real server: idle, one model loaded, three models under a budget for two."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import Row, mapped_files, rss_kib
from freescode_lsp.engines.local.engine import BATCH
from freescode_lsp.models import footprint, weights
from freescode_lsp.testing.lsp_harness import Editor, run_command, server_config

TASKS = {"fix": "x", "clean": "y", "refactor": "z"}
BUDGET_MODELS = 2.5
WINDOW = 512
FUNCTION = "def add(a, b):\n    return a - b\n"


def options(copies: dict[str, Path], budget_gb: float) -> dict[str, object]:
    """Three model ids on copies of the gemma file, one task routed to each, and the budget."""
    return {
        "network": {"mode": "local-only"},
        "models": {model: {"gguf": str(path), "prompt_style": "chat"} for model, path in copies.items()},
        "routing": {task: model for task, model in TASKS.items()},
        "local": {"threads": 2, "max_context": WINDOW, "memory_budget_gb": budget_gb},
        "server": {"max_tokens": 8, "diagnostics_enabled": False, "hover_enabled": False},
    }


def bare_python_rss() -> int:
    """RSS of a bare Python interpreter, KiB: the floor for any Python server."""
    probe = (
        "from pathlib import Path; print(next(l for l in Path('/proc/self/status').read_text().splitlines()"
        " if l.startswith('VmRSS')).split()[1])"
    )
    return int(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)


async def measure(workdir: Path) -> dict[str, float]:
    """RSS (KiB) and loaded-model counts of the server idle, after one task, after three."""
    gemma = weights.ensure_embedded()
    copies = {model: workdir / f"{model}.gguf" for model in TASKS.values()}
    for path in copies.values():
        shutil.copyfile(gemma, path)
    size = gemma.stat().st_size
    counted = footprint.predict(gemma, WINDOW, BATCH).total
    budget_gb = BUDGET_MODELS * counted / 1024**3
    client = await server_config().start()
    pid = client._server.pid
    editor = Editor(client, "visual-studio-code")
    found: dict[str, float] = {"size_kib": size / 1024, "counted_kib": counted / 1024, "budget_kib": budget_gb * 1024**2}
    try:
        await editor.initialize(options(copies, budget_gb))
        await asyncio.sleep(1.0)
        found["idle"] = rss_kib(pid)
        for index, task in enumerate(TASKS, 1):
            uri = editor.open(workdir / f"{task}.py", FUNCTION)
            await run_command(client, {"uri": uri, "task": task, "line": 1, "endLine": 1})
            found[f"rss_{index}"] = rss_kib(pid)
            found[f"loaded_{index}"] = mapped_files(pid)
    finally:
        await client.shutdown_session()
        await client.stop()
    return found


async def run() -> list[Row]:
    """Idle RSS vs bare Python; one model vs idle + file size; three models vs the budget."""
    workdir = Path(tempfile.mkdtemp())
    try:
        found = await measure(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mib = 1024.0
    note = (
        f"freescode-lsp process, gemma-3-270m copies as models x, y, z, {WINDOW}-token window; "
        f"budget = {BUDGET_MODELS} x the bytes the pool counts for one model"
    )
    fits = int(found["budget_kib"] // found["counted_kib"])
    return [
        Row(
            "idle server RSS vs bare Python interpreter", found["idle"] / mib, bare_python_rss() / mib, "MiB", note=note, digits=0
        ),
        Row(
            "RSS with one model loaded vs idle + model file",
            found["rss_1"] / mib,
            (found["idle"] + found["size_kib"]) / mib,
            "MiB",
            note=note,
            digits=0,
        ),
        Row(
            "one model: RSS growth vs the bytes the pool counts for it",
            (found["rss_1"] - found["idle"]) / mib,
            found["counted_kib"] / mib,
            "MiB",
            note=note,
            digits=0,
        ),
        Row(
            "three models under budget: model memory (RSS - idle) vs budget",
            (found["rss_3"] - found["idle"]) / mib,
            found["budget_kib"] / mib,
            "MiB",
            note=note,
            digits=0,
        ),
        Row(
            "three models under budget: models loaded vs models the budget fits",
            found["loaded_3"],
            fits,
            "count",
            note=note,
            digits=0,
        ),
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(f"| {row.what} ({row.unit}) | {row.ours:.0f} | {row.baseline:.0f} | {row.ratio:.2f} |")
