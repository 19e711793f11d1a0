"""A small sample of every fault campaign in chaos/, so the test run covers them; nothing may be lost."""

from __future__ import annotations

import pytest

from chaos import gateway, gateway_siege, hostile, keystrokes, kills, malformed, registry, sweeps
from chaos.common import CampaignResult

pytestmark = pytest.mark.campaign


def _nothing_lost(result: CampaignResult, trials: int) -> None:
    assert result.tried == trials, result
    assert result.failures == [], "\n".join(result.failures)


async def test_typing_while_streaming() -> None:
    _nothing_lost(await keystrokes.run(6, seed=7), 6)


async def test_typing_sweeps() -> None:
    for result in await sweeps.run(2, seed=7):
        assert result.tried == 9 and result.failures == [], result


async def test_node_kills() -> None:
    _nothing_lost(await kills.run(8, seed=7), 8)


async def test_malformed_lsp() -> None:
    _nothing_lost(await malformed.run(200, seed=7), 200)


@pytest.mark.parametrize("kind", ["other_file_fence", "workspace_edit_json", "invalid_sse"])
async def test_hostile_answers(kind: str) -> None:
    _nothing_lost(await hostile.run(1, seed=7, kinds=[kind]), 1)


async def test_registry_abuse() -> None:
    _nothing_lost(await registry.run(50, seed=7), 50)


async def test_gateway_attacks() -> None:
    results = await gateway.run(6, seed=7)
    assert [r.name for r in results] == [
        "gateway path tricks",
        "gateway usage dodging",
        "gateway queued leavers",
        "gateway mid-stream leavers",
        "gateway stalled uploads",
    ]
    for result in results:
        assert result.tried > 0 and result.failures == [], result
    figures = {r.name: r.figures for r in results}
    assert figures["gateway path tricks"]["engine_requests_elsewhere"] == 0
    usage = figures["gateway usage dodging"]
    assert usage["billed_completion_tokens"] == usage["generated_completion_tokens"]
    assert figures["gateway queued leavers"]["extra_engine_requests"] == 0


async def test_gateway_siege() -> None:
    result = await gateway_siege.run(120, seed=7, hold_s=15)
    assert result.tried >= 10 and result.failures == [], "\n".join(result.failures)
    assert result.figures["hostile_connections_opened"] >= 120
    assert result.figures["gateway_closed_evicted"] + result.figures["gateway_closed_refused"] > 0
