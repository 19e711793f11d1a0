"""An engine on one remote node speaking the OpenAI-compatible API, streamed over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import email.utils
import json
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

import httpx
from attrs import define
from httpx_sse import EventSource, aconnect_sse

from freescode_lsp.config import NetworkSettings, NodeSettings
from freescode_lsp.engines.base import (
    CONTEXT_PLACEHOLDER,
    Chunk,
    EngineError,
    GenerationRequest,
    GenerationTimeout,
    Usage,
)
from freescode_lsp.engines.fitting import fit_text
from freescode_lsp.http_client import OwnedHttpClient
from freescode_lsp.wire import MAX_LINE_BYTES, approx_tokens, normalize_base_url
from freescode_lsp.wire.sse import Event, StreamTooLarge, read_events

T = TypeVar("T")
_DEFAULTS = NetworkSettings()
MAX_CHARS_PER_TOKEN = 32
_NO_RETRY_STATUSES = frozenset({401, 403, 429})
_FALLBACK_HINTS = {"json_schema": ("response_format", "json_schema"), "stream_options": ("stream_options",)}
SchemaStyle = Literal["json_schema", "json_object"]
_UNLIMITED_TOKENS = 10**9
WIRE_BYTES_PER_TOKEN = 4096
TEMPLATE_TOKENS = 256
TEMPLATE_TOKENS_PER_MESSAGE = 16
END_TOKENS = 16
MAX_ERROR_BODY_BYTES = 64 * 1024


class RemoteEngineError(EngineError):
    """A node failed; `after_first_token` says whether text had already been yielded."""

    def __init__(self, message: str, *, after_first_token: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.after_first_token = after_first_token
        self.status = status


class NodeUnreachable(RemoteEngineError):
    """The node could not be reached, dropped the connection, or answered 5xx."""


class NodeTimeout(RemoteEngineError):
    """The node was too slow: first token, gap between chunks, or total time."""

    def __init__(self, message: str, *, phase: str, after_first_token: bool = False) -> None:
        super().__init__(message, after_first_token=after_first_token)
        self.phase = phase


class NodeDeadline(NodeTimeout, GenerationTimeout):
    """The request's own deadline passed while the node was working."""


class NodeError(RemoteEngineError):
    """The node refused the request or sent something that is not a valid answer."""


class NodeBusy(NodeError):
    """The node answered 429: too many requests; `retry_after_s` is its Retry-After, if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after_s = retry_after_s


@define(frozen=True)
class EstimatedUsage(Usage):
    """Usage counted by the client because the node reported none."""


@define(frozen=True)
class CappedUsage(Usage):
    """Usage cut to what the client can account for, because the node claimed more; keeps the claim."""

    claimed_prompt_tokens: int = 0
    claimed_completion_tokens: int = 0

    def note(self) -> str:
        """Both counts, in words, for the ledger and the log."""
        return (
            f"the node claimed {self.claimed_prompt_tokens} prompt + {self.claimed_completion_tokens} completion "
            f"tokens; recorded at most {self.prompt_tokens} + {self.completion_tokens} (bytes sent and received)"
        )


def checked_usage(claimed: Usage, max_prompt: int, max_completion: int) -> Usage:
    """The node's usage, or a CappedUsage when it claims more tokens than the bytes sent and received allow."""
    if claimed.prompt_tokens <= max_prompt and claimed.completion_tokens <= max_completion:
        return claimed
    return CappedUsage(
        prompt_tokens=min(claimed.prompt_tokens, max_prompt),
        completion_tokens=min(claimed.completion_tokens, max_completion),
        claimed_prompt_tokens=claimed.prompt_tokens,
        claimed_completion_tokens=claimed.completion_tokens,
    )


def wire_limit(max_tokens: int) -> int:
    """How many bytes a stream of `max_tokens` tokens may take on the wire, events and all."""
    return MAX_LINE_BYTES + max(max_tokens, 1) * WIRE_BYTES_PER_TOKEN


@define
class _Progress:
    """What one stream has received so far."""

    pieces: int = 0
    chars: int = 0
    received_bytes: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    done: bool = False


@define(frozen=True)
class _Piece:
    """What one SSE event said."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    done: bool = False


class _Timer:
    """The limits of one stream: first token, gap between events, total, request deadline."""

    def __init__(self, engine: RemoteEngine, deadline: float | None) -> None:
        now = time.monotonic()
        self.engine = engine
        self.first_token_at = now + engine.first_token_timeout_s
        self.total_at = now + engine.total_timeout_s
        self.deadline = deadline

    def _limit(self, started: bool) -> tuple[float, str]:
        now = time.monotonic()
        phase_at = now + self.engine.chunk_gap_timeout_s if started else self.first_token_at
        limits = [(phase_at, "gap" if started else "first_token"), (self.total_at, "total")]
        if self.deadline is not None:
            limits.append((self.deadline, "deadline"))
        at, phase = min(limits)
        return at - now, phase

    async def wait(self, start: Callable[[], Awaitable[T]], started: bool) -> T:
        """Await `start()` within the limit that applies now, or raise the matching timeout."""
        seconds, phase = self._limit(started)
        if seconds <= 0:
            raise self._error(phase, started)
        limit = asyncio.timeout(seconds)
        try:
            async with limit:
                return await start()
        except TimeoutError as exc:
            if limit.expired():
                raise self._error(phase, started) from exc
            raise

    def _error(self, phase: str, started: bool) -> NodeTimeout:
        engine = self.engine
        if phase == "deadline":
            return NodeDeadline(f"the request's deadline passed while waiting for {engine.name}", phase=phase)
        messages = {
            "first_token": f"no first token from {engine.name} within {engine.first_token_timeout_s:g} s",
            "gap": f"{engine.name} sent nothing for {engine.chunk_gap_timeout_s:g} s",
            "total": f"{engine.name} did not finish within {engine.total_timeout_s:g} s",
        }
        return NodeTimeout(messages[phase], phase=phase, after_first_token=started)


def _keep_tail(text: str, limit: int) -> str:
    return text[-limit * 4 :]


def _server_message(text: str) -> str:
    """The message in an OpenAI-style error body, else the body itself, shortened."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "no message"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        for key in ("message", "detail", "error"):
            if isinstance(error.get(key), str):
                return str(error[key])
    if isinstance(error, str):
        return error
    return text.strip()[:300]


def response_format(schema: dict[str, Any], style: SchemaStyle) -> dict[str, Any]:
    """The `response_format` for a schema: OpenAI's `json_schema`, or `json_object` with a `schema` key.

    OpenAI, vLLM, Ollama and llama-server take `json_schema`; llama-cpp-python's server takes only
    `json_object` (with `schema`), which llama-server also takes.
    """
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def _fallback_for(exc: RemoteEngineError, pending: list[str]) -> str | None:
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


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


async def _read_capped(response: httpx.Response, limit: int) -> str:
    """The start of a response body, never more than `limit` bytes of it."""
    body = bytearray()
    async for part in response.aiter_raw():
        body += part[: limit - len(body)]
        if len(body) >= limit:
            break
    return body.decode("utf-8", errors="replace")


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (prompt, completion)):
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


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
    def from_settings(
        cls, node: NodeSettings, network: NetworkSettings, client: httpx.AsyncClient | None = None
    ) -> RemoteEngine:
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

    def _fill(self, texts: list[str], request: GenerationRequest) -> list[str]:
        """Replace the surrounding-code placeholder with as much code as the node's context allows."""
        if not any(CONTEXT_PLACEHOLDER in text for text in texts):
            return texts
        budget = _UNLIMITED_TOKENS if self.context is None else self.context - request.max_tokens
        filled = list(texts)
        for index, text in enumerate(texts):
            if CONTEXT_PLACEHOLDER in text:
                others = sum(approx_tokens(t) for i, t in enumerate(filled) if i != index)
                limit = max(budget - others, 1)
                filled[index] = fit_text(text, request.surrounding, approx_tokens, limit, _keep_tail)
        return filled

    def build_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any], int]:
        """The endpoint path, the JSON body before stream_options and response_format, the prompt length."""
        if request.infill is not None:
            from freescode_lsp.engines.remote_completion import infill_body

            return infill_body(request, self.context)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.messages:
            contents = self._fill([m.content for m in request.messages], request)
            body["messages"] = [
                {"role": m.role, "content": c} for m, c in zip(request.messages, contents, strict=True)
            ]
            if request.continuation:
                body["messages"].append({"role": "assistant", "content": request.continuation})
            return "/chat/completions", body, sum(len(c) for c in contents)
        if request.prompt is None:
            raise EngineError("the request has neither messages nor a prompt")
        prompt = self._fill([request.prompt], request)[0] + request.continuation
        body["prompt"] = prompt
        if request.json_schema is not None:
            body["json_schema"] = request.json_schema
        return "/completions", body, len(prompt)

    async def stream(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        """Yield the node's text as it streams, then a last chunk with usage and finish reason."""
        path, body, prompt_chars = self.build_body(request)
        chat = "messages" in body
        timer = _Timer(self, request.deadline)
        progress = _Progress()
        char_cap = request.max_tokens * MAX_CHARS_PER_TOKEN
        try:
            async with contextlib.AsyncExitStack() as stack:
                events = await self._open(stack, path, body, request.json_schema, timer, request.max_tokens)
                while not progress.done:
                    event = await timer.wait(lambda: anext(events, None), progress.pieces > 0)
                    if event is None:
                        break
                    piece = self._parse(event, chat)
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
            raise self._transport_error(exc, progress.pieces > 0) from exc
        if not progress.done and progress.finish_reason is None:
            if progress.pieces == 0:
                raise NodeError(f"{self.name} ended the stream without an answer")
            raise NodeUnreachable(
                f"{self.name} ended the stream after {progress.pieces} pieces without its end marker "
                "([DONE] or a finish reason): the answer was cut off",
                after_first_token=True,
            )
        yield Chunk(
            usage=self._usage(progress, body, prompt_chars),
            model=request.model,
            engine=self.name,
            finish_reason=progress.finish_reason or "stop",
        )

    def _usage(self, progress: _Progress, body: dict[str, Any], prompt_chars: int) -> Usage:
        """The node's usage, bounded by the bytes sent and received; counted here when the node gave none."""
        if progress.usage is None:
            return EstimatedUsage(prompt_tokens=math.ceil(prompt_chars / 4), completion_tokens=progress.pieces)
        texts = [m["content"] for m in body["messages"]] if "messages" in body else [body["prompt"]]
        max_prompt = (
            sum(len(text.encode("utf-8", errors="replace")) for text in texts)
            + TEMPLATE_TOKENS
            + TEMPLATE_TOKENS_PER_MESSAGE * len(texts)
        )
        max_completion = max(progress.received_bytes, progress.pieces) + END_TOKENS
        return checked_usage(progress.usage, max_prompt, max_completion)

    async def _open(
        self,
        stack: contextlib.AsyncExitStack,
        path: str,
        body: dict[str, Any],
        schema: dict[str, Any] | None,
        timer: _Timer,
        max_tokens: int,
    ) -> AsyncIterator[Event]:
        """Start the stream; drop stream_options or the schema style the node refuses, and remember."""
        stream_options, schema_style = self.sends_stream_options, self.schema_style
        pending = [
            step
            for step, possible in (
                ("json_schema", schema is not None and schema_style == "json_schema"),
                ("stream_options", stream_options),
            )
            if possible
        ]
        while True:
            attempt = dict(body)
            if stream_options:
                attempt["stream_options"] = {"include_usage": True}
            if schema is not None:
                attempt["response_format"] = response_format(schema, schema_style)
            try:
                source = await self._connect(stack, path, attempt, timer)
                break
            except RemoteEngineError as exc:
                step = _fallback_for(exc, pending)
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
        self, stack: contextlib.AsyncExitStack, path: str, body: dict[str, Any], timer: _Timer
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
                text = await timer.wait(lambda: _read_capped(response, MAX_ERROR_BODY_BYTES), False)
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
        message = _server_message(text)
        if status == 429:
            wait = retry_after_seconds(retry_after)
            when = f"; it asks to wait {wait:g} s" if wait is not None else ""
            return NodeBusy(f"{self.name} is busy (429){when}: {message}", retry_after_s=wait)
        if status in (401, 403):
            what = "refused the API key" if self.api_key else "needs an API key and none is configured"
            return NodeError(f"{self.name} {what} ({status}): {message}", status=status)
        if status >= 500:
            return NodeUnreachable(f"{self.name} failed ({status}): {message}", status=status)
        return NodeError(f"{self.name} refused the request ({status}): {message}", status=status)

    def _transport_error(self, exc: httpx.TransportError, started: bool) -> RemoteEngineError:
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return NodeUnreachable(f"cannot connect to {self.name}: {exc}", after_first_token=started)
        if isinstance(exc, httpx.TimeoutException):
            return NodeTimeout(f"{self.name} timed out: {exc}", phase="read", after_first_token=started)
        detail = str(exc) or type(exc).__name__
        return NodeUnreachable(f"lost the connection to {self.name}: {detail}", after_first_token=started)

    def _parse(self, event: Event, chat: bool) -> _Piece:
        """Read one SSE event: text, finish reason, usage, end of stream, or an in-band error."""
        data = event.data.strip()
        if event.event == "error":
            raise NodeError(f"{self.name} reported an error: {_server_message(data)}")
        if not data:
            return _Piece()
        if data == "[DONE]":
            return _Piece(done=True)
        try:
            payload = json.loads(data)
        except ValueError:
            raise NodeError(f"{self.name} sent an event that is not JSON: {data[:200]!r}") from None
        if not isinstance(payload, dict):
            raise NodeError(f"{self.name} sent an event that is not a JSON object: {data[:200]!r}")
        if payload.get("error"):
            raise NodeError(f"{self.name} reported an error: {_server_message(data)}")
        text, finish_reason = "", None
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            source = choice.get("delta") if chat else choice
            content = source.get("content" if chat else "text") if isinstance(source, dict) else None
            text = content if isinstance(content, str) else ""
            reason = choice.get("finish_reason")
            finish_reason = reason if isinstance(reason, str) else None
        return _Piece(text=text, finish_reason=finish_reason, usage=_usage(payload.get("usage")))

    def _short_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.chunk_gap_timeout_s, connect=self.connect_timeout_s)

    async def list_models(self) -> list[str]:
        """The model ids the node serves, from GET /v1/models."""
        try:
            response = await self._http().get(
                self.base_url + "/models", headers=self._headers(), timeout=self._short_timeout()
            )
        except httpx.TransportError as exc:
            raise self._transport_error(exc, False) from exc
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
            response = await self._http().get(
                self.root_url + "/health", headers=self._headers(), timeout=self._short_timeout()
            )
        except httpx.TransportError:
            return False
        if response.status_code in (404, 405):
            try:
                await self.list_models()
            except RemoteEngineError:
                return False
            return True
        return response.is_success
