"""What a node gateway takes in: only the endpoints it serves, and request bodies read whole under one byte budget."""

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


class BodyBudget:
    """The bytes of request bodies the gateway holds at once, over every connection."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def take(self, size: int) -> bool:
        """Hold `size` more bytes if they fit."""
        if self.held + size > self.capacity:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        """Let go of bytes held."""
        self.held -= size


def declared_length(value: str | None) -> int | None:
    """The Content-Length a request declared (the server checked it is digits), None without one."""
    return int(value) if value is not None and value.strip().isdigit() else None


async def read_body(receive: Receive, budget: BodyBudget, max_bytes: int, timeout_s: float, declared: int | None) -> bytes:
    """The whole body, within `timeout_s`, `max_bytes` and the budget; BodyProblem if too big, too slow, or gone.

    The caller holds `len(body)` bytes of the budget afterwards and gives them back when done with the body.
    """
    if declared is not None and declared > max_bytes:
        raise BodyProblem(f"the body is larger than {max_bytes} bytes", 413)
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BodyProblem("the client left before its request was read", None)
                part = message.get("body", b"")
                if size + len(part) > max_bytes:
                    raise BodyProblem(f"the body is larger than {max_bytes} bytes", 413)
                if not budget.take(len(part)):
                    raise BodyProblem("the node is receiving too many request bodies at once; retry shortly", 503)
                parts.append(part)
                size += len(part)
                if not message.get("more_body", False):
                    return b"".join(parts)
    except TimeoutError:
        budget.give(size)
        raise BodyProblem(f"the body did not arrive within {timeout_s:g} s", 408) from None
    except BaseException:
        budget.give(size)
        raise
