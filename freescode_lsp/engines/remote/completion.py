"""Completions on a remote node: POST /v1/completions with the FIM prompt of the node model's family."""

from __future__ import annotations

from typing import Any

from freescode_lsp.completion import prompt
from freescode_lsp.completion.formats import family_format
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.wire import approx_tokens

MAX_STOPS = 4  # OpenAI's limit; llama.cpp, vLLM and Ollama take more, but a stricter node refuses the request


def infill_body(request: GenerationRequest, context: int | None) -> tuple[str, dict[str, Any], int]:
    """The endpoint, the JSON body and the prompt's length for a fill-in-the-middle request.

    A model of a known FIM family gets its markers around prefix and suffix; any other gets the prefix alone,
    which every completion endpoint understands (the `suffix` field is not: llama-cpp-python's server puts
    token 0 in place of the FIM tokens, vLLM refuses it).
    """
    assert request.infill is not None
    fim = family_format(request.model)
    budget = None if context is None else max(16, context - request.max_tokens)
    text = prompt.fitted(
        request.infill.prefix, request.infill.suffix, fim, lambda t: budget is None or approx_tokens(t) <= budget
    )
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": text + request.continuation,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
    }
    stops = prompt.stops(fim, request.stop)[:MAX_STOPS]
    if stops:
        body["stop"] = stops
    return "/completions", body, len(body["prompt"])
