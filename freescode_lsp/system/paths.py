"""Where Free-S_Code keeps its config, state and model files (XDG, overridable)."""

from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, fallback: str) -> Path:
    value = os.environ.get(var)
    return Path(value) if value else Path.home() / fallback


def user_config_file() -> Path:
    """The per-user config file."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "freescode" / "config.toml"


def state_dir() -> Path:
    """Where the usage ledger and other state live."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "freescode"


def cache_dir() -> Path:
    """Where Free-S_Code keeps what it can rebuild: model files, model probe verdicts."""
    return _xdg("XDG_CACHE_HOME", ".cache") / "freescode"


def models_dir() -> Path:
    """Where downloaded and assembled model files live."""
    override = os.environ.get("FREESCODE_MODELS_DIR")
    if override:
        return Path(override)
    return cache_dir() / "models"
