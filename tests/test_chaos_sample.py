"""A small sample of every fault campaign in chaos/, so the test run covers them; nothing may be lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos import hostile, keystrokes, kills, malformed, registry
from chaos.common import CampaignResult


def _nothing_lost(result: CampaignResult, trials: int) -> None:
    assert result.tried == trials, result
    assert result.failures == [], "\n".join(result.failures)


async def test_typing_while_streaming() -> None:
    _nothing_lost(await keystrokes.run(6, seed=7), 6)


async def test_node_kills() -> None:
    _nothing_lost(await kills.run(5, seed=7), 5)


async def test_malformed_lsp() -> None:
    _nothing_lost(await malformed.run(200, seed=7), 200)


@pytest.mark.parametrize(
    "kind", ["other_file_fence", "workspace_edit_json", "invalid_sse"]
)
async def test_hostile_answers(kind: str) -> None:
    _nothing_lost(await hostile.run(1, seed=7, kinds=[kind]), 1)


async def test_registry_abuse() -> None:
    _nothing_lost(await registry.run(50, seed=7), 50)
