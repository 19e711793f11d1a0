"""The completion lane's cache filled while the user pauses, through the real server in this process: after a
change far from the last suggestion, the next suggestion there pays only for what changed, and a request never
waits for a fill to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from freescode_lsp.engines.local.completion import cached_tokens
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models.catalog import DEFAULT_MODEL
from freescode_lsp.testing.in_process import InProcessServer
from freescode_lsp.testing.waiting import until

MODEL_BOUND_S = 120.0
FUNCTIONS = "".join(f"def area_{n}(radius):\n    return 3.14159 * radius * radius * {n}\n\n\n" for n in range(30))
LAST = FUNCTIONS.count("\n") - 3
LAST_TEXT = FUNCTIONS.split("\n")[LAST]
OPTIONS = {
    "network": {"mode": "local-only"},
    "local": {"threads": 2, "max_context": 2048},
    "server": {"diagnostics_enabled": False, "hover_enabled": False},
    "completion": {"debounce_ms": 0, "max_tokens": 16, "max_lines": 2},
}


def params(uri: str, line: int, character: int) -> dict[str, Any]:
    invoked = types.InlineCompletionTriggerKind.Invoked.value
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": invoked}}


async def started(tmp_path: Path) -> tuple[InProcessServer, str]:
    """The server with the document open and a first suggestion at its top (which loads the model)."""
    server = InProcessServer()
    await server.initialize(OPTIONS)
    uri = (tmp_path / "areas.py").as_uri()
    server.open(uri, FUNCTIONS)
    await server.request("textDocument/inlineCompletion", params(uri, 1, 10))
    return server, uri


def lane_of(server: InProcessServer) -> LocalEngine:
    local = server.server.get_router().local
    assert local is not None and local.lane is not None
    return local.lane


async def run_end(lane: LocalEngine) -> dict[str, Any]:
    """The lane's last run once its thread has finished it."""
    stats = lane.last_run
    await until(lambda: "new_tokens" in stats, "the run to end", MODEL_BOUND_S)
    return stats


@pytest.mark.slow
async def test_after_a_pause_the_suggestion_pays_only_for_what_changed(gemma_path: Path, tmp_path: Path) -> None:
    server, uri = await started(tmp_path)
    feature = server.server.features.inline_completion
    try:
        server.change(uri, 2, (LAST, 4), (LAST, len(LAST_TEXT)), "return 3.14")
        await until(lambda: feature.prefill.task is not None, "the fill to be planned")
        await feature.prefill.idle()
        assert feature.prefill.filled > 200
        await server.request("textDocument/inlineCompletion", params(uri, LAST, 15))
        stats = await run_end(lane_of(server))
        assert stats["new_tokens"] <= 2, stats
    finally:
        await server.server.get_router().aclose()


@pytest.mark.slow
async def test_a_request_stops_a_running_fill(gemma_path: Path, tmp_path: Path) -> None:
    server, uri = await started(tmp_path)
    feature = server.server.features.inline_completion
    lane = lane_of(server)
    try:
        path = lane.pool.path_of(DEFAULT_MODEL)
        assert path is not None
        model = await lane.pool.acquire(DEFAULT_MODEL, path)
        lane.pool.release(model)
        held = len(cached_tokens(model.llama))
        server.change(uri, 2, (LAST, 4), (LAST, len(LAST_TEXT)), "return 3.14")
        await until(lambda: len(cached_tokens(model.llama)) > held + 20, "the fill to be under way", MODEL_BOUND_S)
        fill = feature.prefill.task
        assert fill is not None
        answer = await server.request("textDocument/inlineCompletion", params(uri, LAST, 15))
        assert answer is not None and answer["items"]
        await asyncio.wait([fill])
        assert fill.cancelled()
        assert feature.prefill.filled == 0
    finally:
        await server.server.get_router().aclose()
