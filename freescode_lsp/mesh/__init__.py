"""The network: the brief's Python API (loaded on first use), the node gateway (node/) and the registry (registry/).

`get_model_response`, `stream_model_response` and `model_registry` are the API; the errors they may raise are
exported too: every one is a FreescodeError, generation failures are EngineErrors, and AllCandidatesFailed says
that no model of the fallback chain could answer.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freescode_lsp.engines.base import EngineError, GenerationTimeout, ModelLoadError, ModelUnavailable
    from freescode_lsp.engines.remote import RemoteEngineError
    from freescode_lsp.errors import FreescodeError
    from freescode_lsp.mesh.api import ModelRegistry, get_model_response, model_registry, stream_model_response
    from freescode_lsp.routing.metering import LedgerError
    from freescode_lsp.routing.router import AllCandidatesFailed
    from freescode_lsp.wire.registry_client import RegistryError

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
__all__ = [
    "AllCandidatesFailed",
    "EngineError",
    "FreescodeError",
    "GenerationTimeout",
    "LedgerError",
    "ModelLoadError",
    "ModelRegistry",
    "ModelUnavailable",
    "RegistryError",
    "RemoteEngineError",
    "get_model_response",
    "model_registry",
    "stream_model_response",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
