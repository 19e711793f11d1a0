"""Fixtures of the model-file tests: an isolated user with a models directory, and a fake hub on loopback."""

from __future__ import annotations

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
