"""Fixtures of the model-file tests: an isolated user with a models directory, a fake hub on loopback, the code model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from tests.models.fake_hub import BLOB, FakeHub


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Isolated home, XDG dirs, hub cache, models dir and a config file named by FREESCODE_CONFIG."""
    dirs = {name: tmp_path / name for name in ("home", "config", "cache", "state", "models", "hfcache", "cwd")}
    for path in dirs.values():
        path.mkdir()
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(dirs["config"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["cache"]))
    monkeypatch.setenv("XDG_STATE_HOME", str(dirs["state"]))
    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(dirs["models"]))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    dirs["toml"] = tmp_path / "freescode.toml"
    dirs["toml"].write_text("", encoding="utf-8")
    monkeypatch.setenv("FREESCODE_CONFIG", str(dirs["toml"]))
    monkeypatch.chdir(dirs["cwd"])
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(dirs["hfcache"]))
    return dirs


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake hub on 127.0.0.1, named by HF_ENDPOINT after huggingface_hub was imported."""
    fake = FakeHub()
    fake.files[("acme/tiny-GGUF", "tiny.Q4_K_M.gguf")] = BLOB
    fake.files[("acme/big-GGUF", "big.Q4_K_M.gguf")] = BLOB[::-1]
    fake.lfs_repos.add("acme/big-GGUF")
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    yield fake
    fake.close()


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
