"""Completions on the local engine: a lane of their own, and the model's FIM prompt built where its file is.

The lane is a second LocalEngine with its own pool: its own Llama object per model (the weights are mapped
from the same file, so only the KV cache and buffers are new), its own thread and its own KV cache. Both pools
draw on one `[local] memory_budget_gb`, and either unloads the other's idle models to make room. A
completion never waits behind a rewrite or a hover on the same model, nor makes them wait; and the KV cache
holds the last completion's prompt, whose common start llama-cpp-python reuses on the next keystroke.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve

from freescode_lsp.completion import prompt
from freescode_lsp.completion.formats import FimFormat, family_format
from freescode_lsp.completion.gguf_fim import fim_format_of
from freescode_lsp.config.values import ContextTokens
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.models.catalog import ModelSpec

if TYPE_CHECKING:
    from freescode_lsp.engines.local.engine import LocalEngine

LANE_CONTEXT = 4096
TOKENS_BEYOND_BYTES = 2


def lane_for(engine: LocalEngine) -> LocalEngine:
    """The engine's completion lane, made on first use: the same engine class with a window no larger than
    completions need, sharing the main engine's memory budget, trial-run verdicts and warnings. A lane is its
    own lane."""
    if engine.lane is None:
        settings = evolve(engine.settings, max_context=ContextTokens(min(engine.settings.max_context, LANE_CONTEXT)))
        lane = type(engine)(engine.catalog, settings)
        lane.pool.share_budget_with(engine.pool)
        lane.probe = engine.probe
        lane.warn = lambda message: engine.warn(message)
        lane.lane = lane
        engine.lane = lane
    engine.lane.catalog = engine.catalog
    return engine.lane


def fim_for(path: Path | None, spec: ModelSpec) -> FimFormat | None:
    """The model file's FIM tokens when its metadata names them, else its family's format, else None."""
    found = fim_format_of(path) if path is not None else None
    return found or family_format(spec.id, spec.hf_file)


def render_infill(llama: Any, spec: ModelSpec, request: GenerationRequest, context_size: int) -> tuple[str, list[str]]:
    """The FIM (or prefix-only) prompt cut to the window minus max tokens, and the stops of the format."""
    assert request.infill is not None
    model_path = getattr(llama, "model_path", None)
    fim = fim_for(Path(model_path) if model_path else None, spec)
    limit = max(16, context_size - request.max_tokens)

    def fits(text: str) -> bool:
        if len(text.encode("utf-8")) + TOKENS_BEYOND_BYTES <= limit:
            return True
        return len(llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)) <= limit

    text = prompt.fitted(request.infill.prefix, request.infill.suffix, fim, fits)
    return text + request.continuation, prompt.stops(fim, request.stop)
