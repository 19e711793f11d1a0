"""The network: the brief's Python API (loaded on first use), the node gateway (node/) and the registry (registry/).

`get_model_response`, `stream_model_response` and `model_registry` are the API; the errors they may raise are
exported too: every one is a FreescodeError, generation failures are EngineErrors, and AllCandidatesFailed says
that no model of the fallback chain could answer.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "ModelRegistry": "freescode_lsp.mesh.api",
    "get_model_response": "freescode_lsp.mesh.api",
    "model_registry": "freescode_lsp.mesh.api",
    "stream_model_response": "freescode_lsp.mesh.api",
    "FreescodeError": "freescode_lsp.errors",
    "EngineError": "freescode_lsp.engines.base",
    "GenerationTimeout": "freescode_lsp.engines.base",
    "ModelUnavailable": "freescode_lsp.engines.base",
    "ModelLoadError": "freescode_lsp.engines.base",
    "AllCandidatesFailed": "freescode_lsp.routing.router",
    "RemoteEngineError": "freescode_lsp.engines.remote",
    "LedgerError": "freescode_lsp.routing.metering",
    "RegistryError": "freescode_lsp.wire.registry_client",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
