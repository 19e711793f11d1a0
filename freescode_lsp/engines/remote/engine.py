"""An engine on one remote node speaking the OpenAI-compatible API, streamed over SSE."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import httpx
from httpx_sse import EventSource, aconnect_sse

from freescode_lsp.config import NetworkSettings, NodeSettings
from freescode_lsp.engines.base import Chunk, GenerationRequest
from freescode_lsp.engines.remote.dialect import (
    OptionalFeature,
    RequestBody,
    SchemaStyle,
    build_body,
    fallback_for,
    parse_event,
    with_features,
)
from freescode_lsp.engines.remote.errors import (
    NodeError,
    NodeUnreachable,
    RemoteEngineError,
    status_error,
    transport_error,
)
from freescode_lsp.engines.remote.reading import Progress, StreamTimer, read_capped, wire_limit
from freescode_lsp.wire import MAX_LINE_BYTES, normalize_base_url
from freescode_lsp.wire.http_client import OwnedHttpClient
from freescode_lsp.wire.sse import Event, StreamTooLarge, read_events

_DEFAULTS = NetworkSettings()
MAX_CHARS_PER_TOKEN = 32
MAX_ERROR_BODY_BYTES = 64 * 1024


class RemoteEngine(OwnedHttpClient):
    """Streams generations from one OpenAI-compatible node (llama.cpp, llama-cpp-python, vLLM, Ollama)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        price_per_1k: float = 0.0,
        *,
        connect_timeout_s: float = _DEFAULTS.connect_timeout_s,
        first_token_timeout_s: float = _DEFAULTS.first_token_timeout_s,
        chunk_gap_timeout_s: float = _DEFAULTS.chunk_gap_timeout_s,
        total_timeout_s: float = _DEFAULTS.total_timeout_s,
        context: int | None = None,
        models: Sequence[str] = (),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = normalize_base_url(url)
        self.root_url = self.base_url.removesuffix("/v1")
        self.name = f"node:{self.root_url}"
        self.api_key = api_key
        self.price_per_1k = price_per_1k
        self.connect_timeout_s = connect_timeout_s
        self.first_token_timeout_s = first_token_timeout_s
        self.chunk_gap_timeout_s = chunk_gap_timeout_s
        self.total_timeout_s = total_timeout_s
        self.context = context
        self.models = list(models)
        self.sends_stream_options = True
        self.schema_style: SchemaStyle = "json_schema"
        self._adopt_client(client)

    @classmethod
    def from_settings(cls, node: NodeSettings, network: NetworkSettings, client: httpx.AsyncClient | None = None) -> RemoteEngine:
        """An engine for a `[[nodes]]` entry, its key read from `api_key_env` when not given inline."""
        api_key = node.api_key
        if api_key is None and node.api_key_env:
            api_key = os.environ.get(node.api_key_env) or None
        return cls(
            node.url,
            api_key,
            node.price_per_1k,
            connect_timeout_s=network.connect_timeout_s,
            first_token_timeout_s=network.first_token_timeout_s,
            chunk_gap_timeout_s=network.chunk_gap_timeout_s,
            total_timeout_s=network.total_timeout_s,
            context=node.context,
            models=node.models,
            client=client,
        )

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def build_body(self, request: GenerationRequest) -> RequestBody:
        """The request for this node, its surrounding code cut to the node's context."""
        return build_body(request, self.context)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        """Yield the node's text as it streams, then a last chunk with usage and finish reason."""
        sent = self.build_body(request)
        timer = StreamTimer(
            self.name, self.first_token_timeout_s, self.chunk_gap_timeout_s, self.total_timeout_s, request.deadline
        )
        progress = Progress()
        char_cap = request.max_tokens * MAX_CHARS_PER_TOKEN
        try:
            async with contextlib.AsyncExitStack() as stack:
                events = await self._open(stack, sent, request.json_schema, timer, request.max_tokens)
                while not progress.done:
                    event = await timer.wait(lambda: anext(events, None), progress.pieces > 0)
                    if event is None:
                        break
                    piece = parse_event(event, sent.chat, self.name)
                    progress.done = piece.done
                    progress.usage = piece.usage or progress.usage
                    progress.finish_reason = piece.finish_reason or progress.finish_reason
                    if piece.text:
                        text = piece.text[: max(0, char_cap - progress.chars)]
                        progress.pieces += 1
                        progress.chars += len(text)
                        progress.received_bytes += len(piece.text.encode("utf-8", errors="replace"))
                        if text:
                            yield Chunk(text=text, model=request.model, engine=self.name)
                        if progress.pieces > request.max_tokens or progress.chars >= char_cap:
                            progress.finish_reason = "length"
                            break
        except RemoteEngineError as exc:
            exc.after_first_token = progress.pieces > 0
            raise
        except StreamTooLarge as exc:
            raise NodeError(f"{self.name} sent {exc}", after_first_token=progress.pieces > 0) from None
        except httpx.TransportError as exc:
            raise transport_error(self.name, exc, progress.pieces > 0) from exc
        if not progress.done and progress.finish_reason is None:
            if progress.pieces == 0:
                raise NodeError(f"{self.name} ended the stream without an answer")
            raise NodeUnreachable(
                f"{self.name} ended the stream after {progress.pieces} pieces without its end marker "
                "([DONE] or a finish reason): the answer was cut off",
                after_first_token=True,
            )
        yield Chunk(
            usage=progress.bounded_usage(sent),
            model=request.model,
            engine=self.name,
            finish_reason=progress.finish_reason or "stop",
        )

    async def _open(
        self,
        stack: contextlib.AsyncExitStack,
        sent: RequestBody,
        schema: dict[str, Any] | None,
        timer: StreamTimer,
        max_tokens: int,
    ) -> AsyncGenerator[Event, None]:
        """Start the stream; drop stream_options or the schema style the node refuses, and remember."""
        stream_options, schema_style = self.sends_stream_options, self.schema_style
        possible: list[tuple[OptionalFeature, bool]] = [
            ("json_schema", schema is not None and schema_style == "json_schema"),
            ("stream_options", stream_options),
        ]
        pending = [step for step, allowed in possible if allowed]
        while True:
            attempt = with_features(sent.body, stream_options, schema, schema_style)
            try:
                source = await self._connect(stack, sent.path, attempt, timer)
                break
            except RemoteEngineError as exc:
                step = fallback_for(exc, pending)
                if step is None:
                    raise
                pending.remove(step)
                if step == "stream_options":
                    stream_options = False
                else:
                    schema_style = "json_object"
        if not stream_options:
            self.sends_stream_options = False
        if schema_style == "json_object":
            self.schema_style = "json_object"
        events = read_events(source.response.aiter_raw(), MAX_LINE_BYTES, wire_limit(max_tokens))
        stack.push_async_callback(events.aclose)
        return events

    async def _connect(
        self, stack: contextlib.AsyncExitStack, path: str, body: dict[str, Any], timer: StreamTimer
    ) -> EventSource:
        """Send the request and check the answer's status and content type."""
        attempt = contextlib.AsyncExitStack()
        timeout = httpx.Timeout(self.connect_timeout_s, read=None, write=None)
        try:
            source = await timer.wait(
                lambda: attempt.enter_async_context(
                    aconnect_sse(
                        self._http(),
                        "POST",
                        self.base_url + path,
                        json=body,
                        headers={**self._headers(), "Accept-Encoding": "identity"},
                        timeout=timeout,
                    )
                ),
                False,
            )
            response = source.response
            if response.status_code >= 400:
                text = await timer.wait(lambda: read_capped(response, MAX_ERROR_BODY_BYTES), False)
                raise self._status_error(response.status_code, text, response.headers.get("retry-after"))
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                raise NodeError(f"{self.name} did not stream (content type {content_type or 'missing'!r})")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise NodeError(f"{self.name} compressed its stream ({encoding}) though it was asked not to")
        except BaseException:
            await attempt.aclose()
            raise
        stack.push_async_callback(attempt.aclose)
        return source

    def _status_error(self, status: int, text: str, retry_after: str | None = None) -> RemoteEngineError:
        return status_error(self.name, status, text, retry_after, has_key=bool(self.api_key))

    def _short_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.chunk_gap_timeout_s, connect=self.connect_timeout_s)

    async def list_models(self) -> list[str]:
        """The model ids the node serves, from GET /v1/models."""
        try:
            response = await self._http().get(self.base_url + "/models", headers=self._headers(), timeout=self._short_timeout())
        except httpx.TransportError as exc:
            raise transport_error(self.name, exc, False) from exc
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.text)
        try:
            data = response.json()["data"]
            return [str(item["id"]) for item in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise NodeError(f"{self.name} sent a model list that is not understood: {exc}") from exc

    async def health(self) -> bool:
        """Whether the node answers: GET /health, or the model list when it has no /health."""
        try:
            response = await self._http().get(self.root_url + "/health", headers=self._headers(), timeout=self._short_timeout())
        except httpx.TransportError:
            return False
        if response.status_code in (404, 405):
            try:
                await self.list_models()
            except RemoteEngineError:
                return False
            return True
        return response.is_success
