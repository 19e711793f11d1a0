"""Repeated hover on unchanged code (content-hash cache) against the first hover, through the real server."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from lsprotocol import types

from bench.common import Row
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL
from freescode_lsp.testing.lsp_harness import Editor, server_config

UNITS = 2
OPTIONS = {
    "network": {"mode": "local-only"},
    "routing": {"analyze": DEFAULT_MODEL},
    "local": {"threads": 2, "max_context": 2048},
    "server": {"max_tokens": 48, "diagnostics_enabled": False, "hover_timeout_s": 120},
}


def source() -> str:
    """A few small functions, one hover target each (5 lines apart)."""
    return "".join(
        f"def scale_{i}(values, factor):\n    out = [v * factor for v in values]\n    return sum(out) / len(out) - {i}\n\n\n"
        for i in range(UNITS)
    )


async def hover_seconds(editor: Editor, uri: str, line: int) -> float:
    """Seconds for one textDocument/hover; fails loudly when the server gives no explanation."""
    start = time.perf_counter()
    answer = await editor.client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, 6))
    )
    elapsed = time.perf_counter() - start
    assert answer is not None, "hover gave no explanation"
    return elapsed


async def measure() -> tuple[list[float], list[float]]:
    """First and second hover on each unit, seconds."""
    weights.ensure_embedded()
    client = await server_config().start()
    editor = Editor(client, "visual-studio-code")
    try:
        await editor.initialize(OPTIONS)
        uri = editor.open(Path(tempfile.mkdtemp()) / "units.py", source())
        firsts, seconds = [], []
        for unit in range(UNITS):
            firsts.append(await hover_seconds(editor, uri, unit * 5))
            seconds.append(await hover_seconds(editor, uri, unit * 5 + 1))
    finally:
        await client.shutdown_session()
        await client.stop()
    return firsts, seconds


async def run() -> list[Row]:
    """Second hover on the same unchanged unit against the first (which runs gemma), medians."""
    firsts, seconds = await measure()
    note = f"hover over stdio, gemma-3-270m local, {UNITS} units, medians"
    return [
        Row(
            "hover on unchanged unit, second (cached) vs first (model)",
            statistics.median(seconds) * 1000,
            statistics.median(firsts) * 1000,
            "ms",
            note=note,
            digits=2,
        )
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(f"| {row.what} ({row.unit}) | {row.ours:.2f} | {row.baseline:.2f} | {row.ratio:.4f} |")
