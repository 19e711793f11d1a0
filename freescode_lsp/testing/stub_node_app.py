"""The stub node's HTTP app: answers from a script, in the wire dialect of each engine it imitates.

The script is a JSON object; every key is optional:

    models: ["stub-model"]        ids served by GET /v1/models
    api_key: "k"                  when set, /v1 requests without "Authorization: Bearer k" get 401
    health_status: 200            status of GET /health
    operator_token: null          answer registry ownership challenges as a gateway registered with this token
    queue: [answer, ...]          consumed first, one per generation request
    by_model: {"model id": answer}
    default: answer               otherwise (built in: chunks ["Hello", " world"])

An answer is an object; every key is optional:

    chunks: ["Hello", " world"]   text pieces, one SSE event (and one counted token) each
    first_delay_s: 0              seconds before the first piece
    delay_s: 0                    seconds between pieces
    delay_headers: false          also hold back the response headers for first_delay_s
    hold: false                   before the first piece, wait until POST /_stub/release
    format: "openai"              wire dialect, see below
    reject_stream_options: false  answer 400 when the body has stream_options (older llama-server)
    reject_json_schema: false     answer 500 to response_format type json_schema (llama-cpp-python's server)
    pings: false                  send a ": ping" SSE comment before every piece
    no_done: false                end the stream without "data: [DONE]"
    error_after: null             after n pieces send an in-band error and end the stream
    error_style: "data"           "data" (data: {"error": ...}) or "event" (event: error)
    die_after: null               after n pieces drop the connection without ending the body
    end_after: null               after n pieces end the body cleanly, without a finish chunk or [DONE]
    exit_after: null              after n pieces the whole stub process exits at once
    hang_after: null              after n pieces send nothing more until the client leaves
    huge_line_bytes: 0            first send one `data:` line of this many bytes (no line end), 1 MiB a write
    status: 200                   answer this HTTP status with an OpenAI error body instead
    error_message: "stub error"   message of the in-band error or of the error status
    retry_after: null             Retry-After header sent with an error status
    usage: null                   usage to report; default: words in the prompt, pieces sent
    finish_reason: "stop"         ("length" when max_tokens cut the pieces)
    raw: null                     list of raw SSE text blocks sent verbatim instead of the pieces

Formats (streaming):

    openai            role chunk, pieces, finish chunk; with stream_options.include_usage a last chunk
                      with empty choices and usage, and "usage": null on the others
    vllm              like openai, without the "usage": null fields
    llama-server      no role chunk; usage and timings always on the finish chunk
    llama-cpp-python  role chunk, pieces, finish chunk; never any usage
    ollama            every delta carries the role, finish chunk, system_fingerprint "fp_ollama";
                      usage chunk only with include_usage

A request with "stream": false gets one completion object with the joined pieces and usage.
`max_tokens` in a request cuts the pieces, one token per piece.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from freescode_lsp.mesh.node.ownership import challenge_answer
from freescode_lsp.wire.ownership import OWNERSHIP_PATH, ownership_key

DEFAULT_ANSWER: dict[str, Any] = {"chunks": ["Hello", " world"]}


class _Die(Exception):
    """Raised inside a stream so that the server drops the connection."""


class HideDeaths(logging.Filter):
    """Keep deliberate connection drops out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Die))


class StubState:
    """The current script and every request received."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.script: dict[str, Any] = {}
        self.queue: list[dict[str, Any]] = []
        self.records: list[dict[str, Any]] = []
        self.released = asyncio.Event()
        self.set_script(script or {})

    def set_script(self, script: dict[str, Any]) -> None:
        """Replace the script and its queue, and close the gate that `hold` answers wait at."""
        self.script = dict(script)
        self.queue = list(self.script.get("queue", []))
        self.released.clear()

    async def wait_before_first_piece(self, answer: dict[str, Any]) -> None:
        """Wait at the gate when the answer holds, then for its first delay."""
        if answer.get("hold"):
            await self.released.wait()
        await asyncio.sleep(float(answer.get("first_delay_s", 0)))

    def answer_for(self, body: dict[str, Any]) -> dict[str, Any]:
        """The next scripted answer for a generation request."""
        if self.queue:
            return dict(self.queue.pop(0))
        by_model = self.script.get("by_model", {})
        if body.get("model") in by_model:
            return dict(by_model[body["model"]])
        return dict(self.script.get("default", DEFAULT_ANSWER))


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def _error_body(message: str, status: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "stub_error", "code": status}}


def _prompt_words(body: dict[str, Any]) -> int:
    if isinstance(body.get("messages"), list):
        text = " ".join(str(m.get("content", "")) for m in body["messages"] if isinstance(m, dict))
    else:
        prompt = body.get("prompt", "")
        text = " ".join(map(str, prompt)) if isinstance(prompt, list) else str(prompt)
    return len(text.split())


def _pieces(answer: dict[str, Any], body: dict[str, Any]) -> tuple[list[str], str]:
    pieces = [str(p) for p in answer.get("chunks", DEFAULT_ANSWER["chunks"])]
    finish = str(answer.get("finish_reason", "stop"))
    limit = body.get("max_tokens")
    if isinstance(limit, int) and 0 <= limit < len(pieces):
        return pieces[:limit], "length"
    return pieces, finish


def _usage(answer: dict[str, Any], body: dict[str, Any], sent: int) -> dict[str, int]:
    if isinstance(answer.get("usage"), dict):
        usage = dict(answer["usage"])
    else:
        usage = {"prompt_tokens": _prompt_words(body), "completion_tokens": sent}
    usage.setdefault("total_tokens", usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))
    return usage


class _Dialect:
    """How one server family shapes its stream chunks."""

    def __init__(self, fmt: str, chat: bool, body: dict[str, Any]) -> None:
        options = body.get("stream_options")
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.fmt = fmt
        self.chat = chat
        self.model = str(body.get("model", "stub-model"))

    @property
    def role_first(self) -> bool:
        return self.chat and self.fmt in ("openai", "vllm", "llama-cpp-python")

    @property
    def usage_chunk(self) -> bool:
        return self.include_usage and self.fmt in ("openai", "vllm", "ollama")

    def chunk(self, text: str | None, finish: str | None = None, role: bool = False) -> dict[str, Any]:
        """One stream chunk with a piece of text, a finish reason, or the assistant role."""
        payload: dict[str, Any] = {
            "id": "stub-1",
            "object": "chat.completion.chunk" if self.chat else "text_completion",
            "created": int(time.time()),
            "model": self.model,
        }
        if self.chat:
            delta: dict[str, Any] = {}
            if role or self.fmt == "ollama":
                delta["role"] = "assistant"
            if text is not None or self.fmt == "ollama":
                delta["content"] = text or ""
            payload["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        else:
            payload["choices"] = [{"index": 0, "text": text or "", "finish_reason": finish}]
        if self.fmt == "ollama":
            payload["system_fingerprint"] = "fp_ollama"
        if self.include_usage and self.fmt == "openai":
            payload["usage"] = None
        return payload

    def finish(self, reason: str, usage: dict[str, int]) -> dict[str, Any]:
        """The chunk that carries the finish reason."""
        payload = self.chunk(None, reason)
        if self.fmt == "llama-server":
            payload["usage"] = usage
            payload["timings"] = {"predicted_n": usage.get("completion_tokens", 0)}
        return payload

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        """The extra last chunk with empty choices and usage."""
        payload = self.chunk(None)
        payload["choices"] = []
        payload["usage"] = usage
        return payload


class ScriptedStream(Response):
    """A streamed answer played from the script, watching for the client going away."""

    def __init__(
        self, answer: dict[str, Any], body: dict[str, Any], chat: bool, record: dict[str, Any], released: asyncio.Event
    ) -> None:
        super().__init__(media_type="text/event-stream")
        self.answer = answer
        self.released = released
        self.request_body = body
        self.chat = chat
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        producer = asyncio.ensure_future(self._produce(send))
        watcher = asyncio.ensure_future(self._watch(receive))
        await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not producer.done():
            producer.cancel()
            self.record["outcome"] = "disconnected"
            await asyncio.gather(producer, return_exceptions=True)
            return
        watcher.cancel()
        producer.result()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _send(self, send: Send, data: bytes) -> None:
        await send({"type": "http.response.body", "body": data, "more_body": True})

    async def _produce(self, send: Send) -> None:
        answer = self.answer
        first_delay = float(answer.get("first_delay_s", 0))
        if answer.get("delay_headers"):
            await asyncio.sleep(first_delay)
            first_delay = 0.0
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")],
            }
        )
        if answer.get("hold"):
            await self.released.wait()
        delay = float(answer.get("delay_s", 0))
        if answer.get("raw") is not None:
            for index, block in enumerate(answer["raw"]):
                await asyncio.sleep(first_delay if index == 0 else delay)
                await self._send(send, str(block).encode())
            self.record["outcome"] = "done"
            return
        huge = int(answer.get("huge_line_bytes", 0))
        if huge:
            await self._send(send, b"data: ")
            for start in range(0, huge, 1 << 20):
                await self._send(send, b"x" * min(1 << 20, huge - start))
        dialect = _Dialect(str(answer.get("format", "openai")), self.chat, self.request_body)
        pieces, reason = _pieces(answer, self.request_body)
        if dialect.role_first:
            await self._send(send, _sse(dialect.chunk("", role=True)))
        for index in range(len(pieces) + 1):
            if index < len(pieces):
                await asyncio.sleep(first_delay if index == 0 else delay)
                if answer.get("pings"):
                    await self._send(send, b": ping\n\n")
            if answer.get("die_after") == index:
                self.record["outcome"] = "died"
                raise _Die(f"dropping the connection after {index} pieces")
            if answer.get("end_after") == index:
                self.record["outcome"] = "ended_early"
                return
            if answer.get("exit_after") == index:
                os._exit(0)
            if answer.get("hang_after") == index:
                self.record["outcome"] = "hung"
                await asyncio.Event().wait()
            if answer.get("error_after") == index:
                await self._send(send, self._error_event())
                self.record["outcome"] = "error_event"
                return
            if index < len(pieces):
                await self._send(send, _sse(dialect.chunk(pieces[index])))
        usage = _usage(answer, self.request_body, len(pieces))
        await self._send(send, _sse(dialect.finish(reason, usage)))
        if dialect.usage_chunk:
            await self._send(send, _sse(dialect.usage(usage)))
        if not answer.get("no_done"):
            await self._send(send, b"data: [DONE]\n\n")
        self.record["outcome"] = "done"

    def _error_event(self) -> bytes:
        error = {"message": str(self.answer.get("error_message", "stub error")), "type": "server_error"}
        if self.answer.get("error_style", "data") == "event":
            return f"event: error\ndata: {json.dumps(error)}\n\n".encode()
        return _sse({"error": error})


def _whole_answer(answer: dict[str, Any], body: dict[str, Any], chat: bool) -> dict[str, Any]:
    pieces, reason = _pieces(answer, body)
    text = "".join(pieces)
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason}
    else:
        choice = {"index": 0, "text": text, "finish_reason": reason}
    return {
        "id": "stub-1",
        "object": "chat.completion" if chat else "text_completion",
        "created": int(time.time()),
        "model": str(body.get("model", "stub-model")),
        "choices": [choice],
        "usage": _usage(answer, body, len(pieces)),
    }


def create_app(state: StubState) -> Starlette:
    """The Starlette app serving the OpenAI-compatible endpoints and the /_stub control endpoints."""

    def authorized(request: Request) -> bool:
        key = state.script.get("api_key")
        return not key or request.headers.get("authorization") == f"Bearer {key}"

    async def generate(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.url.path,
            "headers": dict(request.headers),
            "body": body,
            "outcome": None,
        }
        state.records.append(record)
        if not isinstance(body, dict):
            record["outcome"] = "rejected"
            return JSONResponse(_error_body("body is not a JSON object", 400), status_code=400)
        if not authorized(request):
            record["outcome"] = "unauthorized"
            return JSONResponse(_error_body("invalid api key", 401), status_code=401)
        answer = state.answer_for(body)
        status = int(answer.get("status", 200))
        if status >= 400:
            record["outcome"] = "status"
            message = str(answer.get("error_message", "stub error"))
            retry_after = answer.get("retry_after")
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
            return JSONResponse(_error_body(message, status), status_code=status, headers=headers)
        if answer.get("reject_stream_options") and "stream_options" in body:
            record["outcome"] = "rejected"
            return JSONResponse(_error_body("unknown field: stream_options", 400), status_code=400)
        if answer.get("reject_json_schema") and (body.get("response_format") or {}).get("type") == "json_schema":
            record["outcome"] = "rejected"
            message = "('body', 'response_format', 'type'): Input should be 'text' or 'json_object'"
            return JSONResponse(_error_body(message, 500), status_code=500)
        chat = request.url.path.endswith("/chat/completions")
        if not body.get("stream"):
            await state.wait_before_first_piece(answer)
            record["outcome"] = "done"
            return JSONResponse(_whole_answer(answer, body, chat))
        return ScriptedStream(answer, body, chat, record, state.released)

    async def models(request: Request) -> Response:
        if not authorized(request):
            return JSONResponse(_error_body("invalid api key", 401), status_code=401)
        ids = state.script.get("models", ["stub-model"])
        data = [{"id": i, "object": "model", "created": 0, "owned_by": "stub"} for i in ids]
        return JSONResponse({"object": "list", "data": data})

    async def health(request: Request) -> Response:
        status = int(state.script.get("health_status", 200))
        return JSONResponse({"status": "ok" if status < 400 else "unavailable"}, status_code=status)

    async def ownership(request: Request) -> Response:
        token = state.script.get("operator_token")
        return challenge_answer(request, ownership_key(token) if token else None)

    async def get_requests(request: Request) -> Response:
        return JSONResponse(state.records)

    async def set_script(request: Request) -> Response:
        state.set_script(await request.json())
        if request.query_params.get("clear"):
            state.records.clear()
        return JSONResponse({"ok": True})

    async def release(request: Request) -> Response:
        state.released.set()
        return JSONResponse({"ok": True})

    async def clear(request: Request) -> Response:
        state.records.clear()
        return JSONResponse({"ok": True})

    async def elsewhere(request: Request) -> Response:
        record = {"method": request.method, "path": request.url.path, "headers": dict(request.headers)}
        state.records.append({**record, "body": None, "outcome": "not_found"})
        return JSONResponse(_error_body("no such endpoint", 404), status_code=404)

    return Starlette(
        routes=[
            Route("/v1/chat/completions", generate, methods=["POST"]),
            Route("/v1/completions", generate, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route(OWNERSHIP_PATH, ownership, methods=["GET"]),
            Route("/_stub/requests", get_requests, methods=["GET"]),
            Route("/_stub/script", set_script, methods=["POST"]),
            Route("/_stub/clear", clear, methods=["POST"]),
            Route("/_stub/release", release, methods=["POST"]),
            Route("/{path:path}", elsewhere, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        ]
    )
