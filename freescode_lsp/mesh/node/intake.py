"""What a node gateway takes in: only the endpoints it serves, and a request body read once admitted."""

from __future__ import annotations

import asyncio
import posixpath
from typing import Any

from starlette.types import Receive

from freescode_lsp.errors import FreescodeError

SERVED = {"GET": frozenset({"models"}), "POST": frozenset({"chat/completions", "completions"})}


class BodyProblem(FreescodeError):
    """The request body cannot be used; `status` is the answer for a client still there (None: it left)."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


def served_endpoint(method: str, path: str) -> str | None:
    """The endpoint a /v1 path names once dot segments and doubled slashes are resolved, if the gateway serves it."""
    normal = posixpath.normpath("/v1/" + path)
    if not normal.startswith("/v1/"):
        return None
    endpoint = normal.removeprefix("/v1/")
    return endpoint if endpoint in SERVED.get(method, frozenset()) else None


def stream_problem(body: Any) -> str | None:
    """Why a body cannot be billed from the engine's usage: `stream` not a boolean, `stream_options` not an object."""
    if not isinstance(body, dict):
        return None
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        return "stream must be true or false"
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        return "stream_options must be an object"
    return None


async def read_body(receive: Receive, max_bytes: int, timeout_s: float) -> bytes:
    """The whole body, within `timeout_s` and `max_bytes`; BodyProblem if too big, too slow, or the client left."""
    body = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BodyProblem("the client left before its request was read", None)
                body += message.get("body", b"")
                if len(body) > max_bytes:
                    raise BodyProblem(f"the body is larger than {max_bytes} bytes", 413)
                if not message.get("more_body", False):
                    return bytes(body)
    except TimeoutError:
        raise BodyProblem(f"the body did not arrive within {timeout_s:g} s", 408) from None
