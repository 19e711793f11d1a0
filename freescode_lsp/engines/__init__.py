"""Engines turn a GenerationRequest into a stream of text chunks."""

from freescode_lsp.engines.base import (
    CONTEXT_PLACEHOLDER,
    Chunk,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationTimeout,
    Message,
    ModelLoadError,
    ModelUnavailable,
    SurroundingCode,
    Usage,
)

__all__ = [
    "CONTEXT_PLACEHOLDER",
    "Chunk",
    "Engine",
    "EngineError",
    "GenerationRequest",
    "GenerationTimeout",
    "Message",
    "ModelLoadError",
    "ModelUnavailable",
    "SurroundingCode",
    "Usage",
]
