"""Reading one node stream: its time limits, what has arrived so far, and usage bounded by the bytes on the wire."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from attrs import define

from freescode_lsp.engines.base import Usage
from freescode_lsp.engines.remote.dialect import RequestBody
from freescode_lsp.engines.remote.errors import NodeDeadline, NodeTimeout
from freescode_lsp.wire import MAX_LINE_BYTES

T = TypeVar("T")
WIRE_BYTES_PER_TOKEN = 4096
TEMPLATE_TOKENS = 256
TEMPLATE_TOKENS_PER_MESSAGE = 16
END_TOKENS = 16


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
class Progress:
    """What one stream has received so far."""

    pieces: int = 0
    chars: int = 0
    received_bytes: int = 0
    finish_reason: str | None = None
    usage: Usage | None = None
    done: bool = False

    def bounded_usage(self, sent: RequestBody) -> Usage:
        """The node's usage, bounded by the bytes sent and received; counted here when the node gave none."""
        if self.usage is None:
            return EstimatedUsage(prompt_tokens=math.ceil(sent.prompt_chars / 4), completion_tokens=self.pieces)
        texts = sent.texts()
        max_prompt = (
            sum(len(text.encode("utf-8", errors="replace")) for text in texts)
            + TEMPLATE_TOKENS
            + TEMPLATE_TOKENS_PER_MESSAGE * len(texts)
        )
        max_completion = max(self.received_bytes, self.pieces) + END_TOKENS
        return checked_usage(self.usage, max_prompt, max_completion)


class StreamTimer:
    """The limits of one stream from the node called `name`: first token, gap between events, total, deadline."""

    def __init__(self, name: str, first_token_s: float, gap_s: float, total_s: float, deadline: float | None) -> None:
        now = time.monotonic()
        self.name = name
        self.first_token_s = first_token_s
        self.gap_s = gap_s
        self.total_s = total_s
        self.first_token_at = now + first_token_s
        self.total_at = now + total_s
        self.deadline = deadline

    def _limit(self, started: bool) -> tuple[float, str]:
        now = time.monotonic()
        phase_at = now + self.gap_s if started else self.first_token_at
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
        if phase == "deadline":
            return NodeDeadline(f"the request's deadline passed while waiting for {self.name}", phase=phase)
        messages = {
            "first_token": f"no first token from {self.name} within {self.first_token_s:g} s",
            "gap": f"{self.name} sent nothing for {self.gap_s:g} s",
            "total": f"{self.name} did not finish within {self.total_s:g} s",
        }
        return NodeTimeout(messages[phase], phase=phase, after_first_token=started)


async def read_capped(response: httpx.Response, limit: int) -> str:
    """The start of a response body, never more than `limit` bytes of it."""
    body = bytearray()
    async for part in response.aiter_raw():
        body += part[: limit - len(body)]
        if len(body) >= limit:
            break
    return body.decode("utf-8", errors="replace")
