"""The remote engine: one OpenAI-compatible node over SSE (engine), its dialect, stream reading and errors."""

from freescode_lsp.engines.remote.dialect import RequestBody, SchemaStyle, response_format
from freescode_lsp.engines.remote.engine import RemoteEngine
from freescode_lsp.engines.remote.errors import (
    NodeBusy,
    NodeDeadline,
    NodeError,
    NodeTimeout,
    NodeUnreachable,
    RemoteEngineError,
    retry_after_seconds,
)
from freescode_lsp.engines.remote.reading import CappedUsage, EstimatedUsage, checked_usage, wire_limit

__all__ = [
    "CappedUsage",
    "EstimatedUsage",
    "NodeBusy",
    "NodeDeadline",
    "NodeError",
    "NodeTimeout",
    "NodeUnreachable",
    "RemoteEngine",
    "RemoteEngineError",
    "RequestBody",
    "SchemaStyle",
    "checked_usage",
    "response_format",
    "retry_after_seconds",
    "wire_limit",
]
