"""A small run of the registry replicas' fault campaign.

A killed replica, a restarted database, dropped connections, a slowed database.
"""

from __future__ import annotations

import pytest

from chaos import registry_replicas
from freescode_lsp.testing.postgres import PostgresServer

pytestmark = pytest.mark.campaign


async def test_replicas_lose_nothing_through_faults(postgres: PostgresServer) -> None:
    result = await registry_replicas.run(6, seed=3, postgres=postgres)
    assert result.tried == 6
    assert result.failures == []
    assert result.figures["answered requests"] > 0
    assert result.figures.get("unanswered replica killed", 0) == 0
