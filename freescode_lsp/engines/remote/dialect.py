"""The OpenAI-compatible dialect: request bodies, structured-output styles, and what one streamed event says."""

from __future__ import annotations

import json
from typing import Any, Literal

from attrs import define

from freescode_lsp.engines.base import CONTEXT_PLACEHOLDER, EngineError, GenerationRequest, Usage
from freescode_lsp.engines.fitting import fit_text
from freescode_lsp.engines.remote.errors import NodeError, RemoteEngineError, server_message
from freescode_lsp.wire import approx_tokens
from freescode_lsp.wire.sse import Event

SchemaStyle = Literal["json_schema", "json_object"]
OptionalFeature = Literal["json_schema", "stream_options"]
_NO_RETRY_STATUSES = frozenset({401, 403, 429})
_FALLBACK_HINTS: dict[OptionalFeature, tuple[str, ...]] = {
    "json_schema": ("response_format", "json_schema"),
    "stream_options": ("stream_options",),
}
_UNLIMITED_TOKENS = 10**9


@define(frozen=True)
class RequestBody:
    """What to POST: the endpoint path, the JSON body before the optional features, and the prompt's length."""

    path: str
    body: dict[str, Any]
    prompt_chars: int

    @property
    def chat(self) -> bool:
        """Whether this is a chat request (its events carry `delta`s)."""
        return "messages" in self.body

    def texts(self) -> list[str]:
        """Every prompt text sent: the messages' contents, or the raw prompt."""
        if self.chat:
            return [str(m["content"]) for m in self.body["messages"]]
        return [str(self.body["prompt"])]


@define(frozen=True)
class Piece:
    """What one SSE event said."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    done: bool = False


def _keep_tail(text: str, limit: int) -> str:
    return text[-limit * 4 :]


def fill_context(texts: list[str], request: GenerationRequest, context: int | None) -> list[str]:
    """Replace the surrounding-code placeholder with as much code as a `context`-token window allows."""
    if not any(CONTEXT_PLACEHOLDER in text for text in texts):
        return texts
    budget = _UNLIMITED_TOKENS if context is None else context - request.max_tokens
    filled = list(texts)
    for index, text in enumerate(texts):
        if CONTEXT_PLACEHOLDER in text:
            others = sum(approx_tokens(t) for i, t in enumerate(filled) if i != index)
            limit = max(budget - others, 1)
            filled[index] = fit_text(text, request.surrounding, approx_tokens, limit, _keep_tail)
    return filled


def build_body(request: GenerationRequest, context: int | None) -> RequestBody:
    """The chat, completion or fill-in-the-middle request for a node whose window is `context` tokens (None: unknown)."""
    if request.infill is not None:
        from freescode_lsp.engines.remote.completion import infill_body

        return RequestBody(*infill_body(request, context))
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "stream": True,
    }
    if request.stop:
        body["stop"] = list(request.stop)
    if request.messages:
        contents = fill_context([m.content for m in request.messages], request, context)
        body["messages"] = [{"role": m.role, "content": c} for m, c in zip(request.messages, contents, strict=True)]
        if request.continuation:
            body["messages"].append({"role": "assistant", "content": request.continuation})
        return RequestBody("/chat/completions", body, sum(len(c) for c in contents))
    if request.prompt is None:
        raise EngineError("the request has neither messages nor a prompt")
    prompt = fill_context([request.prompt], request, context)[0] + request.continuation
    body["prompt"] = prompt
    if request.json_schema is not None:
        body["json_schema"] = request.json_schema
    return RequestBody("/completions", body, len(prompt))


def response_format(schema: dict[str, Any], style: SchemaStyle) -> dict[str, Any]:
    """The `response_format` for a schema: OpenAI's `json_schema`, or `json_object` with a `schema` key.

    OpenAI, vLLM, Ollama and llama-server take `json_schema`; llama-cpp-python's server takes only
    `json_object` (with `schema`), which llama-server also takes.
    """
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def with_features(
    body: dict[str, Any], stream_options: bool, schema: dict[str, Any] | None, style: SchemaStyle
) -> dict[str, Any]:
    """The body with the optional features this node is sent: usage in the stream, a response format."""
    attempt = dict(body)
    if stream_options:
        attempt["stream_options"] = {"include_usage": True}
    if schema is not None:
        attempt["response_format"] = response_format(schema, style)
    return attempt


def fallback_for(exc: RemoteEngineError, pending: list[OptionalFeature]) -> OptionalFeature | None:
    """Which optional request feature to drop after a refusal: any 4xx, or a 500 naming the schema."""
    status = exc.status
    if status is None or status in _NO_RETRY_STATUSES:
        return None
    message = str(exc)
    hinted = [step for step in pending if any(word in message for word in _FALLBACK_HINTS[step])]
    if 400 <= status < 500:
        candidates = hinted or pending
        return candidates[0] if candidates else None
    if status == 500 and "json_schema" in hinted:
        return "json_schema"
    return None


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    if isinstance(prompt, bool) or isinstance(completion, bool) or prompt < 0 or completion < 0:
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def parse_event(event: Event, chat: bool, name: str) -> Piece:
    """Read one SSE event from the node called `name`: text, finish reason, usage, end of stream, or an error."""
    data = event.data.strip()
    if event.event == "error":
        raise NodeError(f"{name} reported an error: {server_message(data)}")
    if not data:
        return Piece()
    if data == "[DONE]":
        return Piece(done=True)
    try:
        payload = json.loads(data)
    except ValueError:
        raise NodeError(f"{name} sent an event that is not JSON: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise NodeError(f"{name} sent an event that is not a JSON object: {data[:200]!r}")
    if payload.get("error"):
        raise NodeError(f"{name} reported an error: {server_message(data)}")
    text, finish_reason = "", None
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        source = choice.get("delta") if chat else choice
        content = source.get("content" if chat else "text") if isinstance(source, dict) else None
        text = content if isinstance(content, str) else ""
        reason = choice.get("finish_reason")
        finish_reason = reason if isinstance(reason, str) else None
    return Piece(text=text, finish_reason=finish_reason, usage=_usage(payload.get("usage")))
