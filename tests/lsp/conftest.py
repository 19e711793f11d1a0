"""Fixtures of the language server tests: the real server behind a client with Neovim's capabilities."""

from __future__ import annotations

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from freescode_lsp.testing.lsp_harness import server_config


@pytest_lsp.fixture(config=server_config(), params=["neovim"])
async def neovim(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    """The real server behind a client with Neovim's capabilities only."""
    lsp_client.flavour = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()
