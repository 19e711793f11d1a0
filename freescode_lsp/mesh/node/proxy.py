"""Passing one engine answer back to the client (a stream chunk by chunk as it arrives), counting what passes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

import httpx
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.node.tally import AnswerTooLarge, Tally
from freescode_lsp.wire.sse import StreamTooLarge

NOT_PASSED = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "server",
        "date",
    }
)
ERROR_TYPES = {
    401: "unauthorized",
    408: "request_timeout",
    413: "body_too_large",
    429: "rate_limited",
    502: "engine_unreachable",
    503: "busy",
}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An OpenAI-style JSON error."""
    body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": status}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def passed_headers(raw: list[tuple[bytes, bytes]], dropped: frozenset[str] = NOT_PASSED) -> list[tuple[bytes, bytes]]:
    """The engine's response headers without the hop-by-hop ones and those the server sets itself."""
    return [(name, value) for name, value in raw if name.decode("latin-1").lower() not in dropped]


class StreamBroken(FreescodeError):
    """The engine's answer broke off; raised so that the server drops the client's connection too."""


class HideBrokenStreams(logging.Filter):
    """Keep deliberate connection drops out of the server log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], StreamBroken))


async def until_disconnected(receive: Receive) -> None:
    """Return once the client has gone."""
    while (await receive())["type"] != "http.disconnect":
        pass


class ProxyStream(Response):
    """The engine's response relayed; `on_close(outcome)` runs once whatever happens.

    A stream (or an error) is relayed chunk by chunk as it comes; a non-streamed answer is read whole, so that
    its usage is known, and then sent with its length. Outcomes: "done", "client_disconnected" (the engine's
    answer is closed at once), "engine_stream_broken" (the engine's stream broke off, or ended before its end
    marker: the client's connection is dropped, so it cannot mistake a cut answer for a whole one),
    "engine_answer_refused" (a non-streamed answer broke off or was larger than the gateway bills: the client
    gets 502 instead, and nothing was delivered).
    """

    def __init__(self, upstream: httpx.Response, tally: Tally, on_close: Callable[[str], Awaitable[None]]) -> None:
        super().__init__(status_code=upstream.status_code)
        self.raw_headers = passed_headers(upstream.headers.raw)
        self.upstream = upstream
        self.tally = tally
        self.on_close = on_close
        self.outcome = "done"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(until_disconnected(receive))
        try:
            await asyncio.wait({pump, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not pump.done():
                self.outcome = "client_disconnected"
        finally:
            for task in (pump, watch):
                task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            await self.upstream.aclose()
            await self.on_close(self.outcome)
        if self.outcome == "engine_stream_broken":
            raise StreamBroken("the engine's answer broke off")

    async def _pump(self, send: Send) -> None:
        if self.tally.streaming or self.status_code >= 400:
            await self._relay(send)
        else:
            await self._whole(send)

    async def _whole(self, send: Send) -> None:
        """Read the non-streamed answer whole, then send it; a 502 instead when it breaks off or is too large."""
        try:
            async for chunk in self.upstream.aiter_raw():
                self.tally.feed(chunk)
        except (httpx.HTTPError, AnswerTooLarge) as exc:
            self.outcome = "engine_answer_refused"
            why = str(exc) if isinstance(exc, AnswerTooLarge) else f"the engine's answer broke off: {type(exc).__name__}"
            refusal = error_response(502, f"{why}; nothing was billed")
            await send({"type": "http.response.start", "status": 502, "headers": refusal.raw_headers})
            await send({"type": "http.response.body", "body": refusal.body, "more_body": False})
            return
        body = self.tally.whole()
        headers = [*self.raw_headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _relay(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for chunk in self.upstream.aiter_raw():
                self.tally.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (httpx.HTTPError, StreamTooLarge):
            self.outcome = "engine_stream_broken"
            return
        except OSError:
            self.outcome = "client_disconnected"
            return
        if self.status_code < 400 and not self.tally.complete():
            self.outcome = "engine_stream_broken"
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})
