"""The network: the brief's Python API (loaded on first use), the node gateway (node/) and the registry (registry/)."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ModelRegistry", "get_model_response", "model_registry", "stream_model_response"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("freescode_lsp.mesh.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
