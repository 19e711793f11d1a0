"""Counting what passes through the gateway: the engine's usage, else pieces of text and a prompt estimate."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from attrs import define

from freescode_lsp.errors import FreescodeError
from freescode_lsp.wire import MAX_LINE_BYTES, approx_tokens
from freescode_lsp.wire.sse import LineSplitter

MAX_WHOLE_BODY = 16 * 1024 * 1024


class AnswerTooLarge(FreescodeError):
    """A non-streamed answer is larger than the gateway reads whole to bill it."""


@define(frozen=True)
class Counted:
    """Tokens of one request; `estimated` when the engine reported no usage."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool


def _text_of(value: Any) -> str:
    """The text in a prompt, a message content, or a list of either."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_text_of(item) for item in value)
    if isinstance(value, dict):
        return _text_of(value.get("text")) + _text_of(value.get("content"))
    return ""


def estimate_prompt_tokens(body: Any) -> int:
    """About how many tokens a request's prompt or messages hold."""
    if not isinstance(body, dict):
        return 0
    return approx_tokens(_text_of(body.get("prompt")) + _text_of(body.get("messages")))


def _usage(raw: Any) -> tuple[int, int] | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if isinstance(prompt, int) and isinstance(completion, int):
        return prompt, completion
    return None


def _choice_text(choice: Any) -> str:
    """The text of one choice: a streamed delta, a message, or a completion's text."""
    if not isinstance(choice, dict):
        return ""
    for holder in (choice.get("delta"), choice.get("message")):
        if isinstance(holder, dict) and isinstance(holder.get("content"), str):
            return str(holder["content"])
    text = choice.get("text")
    return text if isinstance(text, str) else ""


class Tally:
    """Fed the response bytes as they pass; knows the usage, the pieces, when the first came, and if the end did.

    A non-streamed answer is kept whole (up to MAX_WHOLE_BODY), so that its usage is read whatever its size.
    """

    def __init__(self, streaming: bool, prompt_estimate: int) -> None:
        self.streaming = streaming
        self.prompt_estimate = prompt_estimate
        self.usage: tuple[int, int] | None = None
        self.pieces = 0
        self.completion_chars = 0
        self.first_piece_at: float | None = None
        self.ended = False
        self._lines = LineSplitter(MAX_LINE_BYTES)
        self._data: list[bytes] = []
        self._whole = bytearray()

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the response; StreamTooLarge on a line no answer needs, AnswerTooLarge past
        MAX_WHOLE_BODY of a non-streamed one."""
        if not self.streaming:
            if len(self._whole) + len(data) > MAX_WHOLE_BODY:
                raise AnswerTooLarge(f"the engine's answer is larger than {MAX_WHOLE_BODY} bytes")
            self._whole += data
            return
        for line in self._lines.feed(data):
            self._line(line)

    def _line(self, line: bytes) -> None:
        if not line:
            if self._data:
                self._event(b"\n".join(self._data))
                self._data = []
        elif line.startswith(b"data:"):
            self._data.append(line[5:].removeprefix(b" "))

    def _event(self, data: bytes) -> None:
        if data.strip() == b"[DONE]":
            self.ended = True
            return
        try:
            payload = json.loads(data)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        self.usage = _usage(payload.get("usage")) or self.usage
        choices = payload.get("choices")
        if isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
            self.ended = True
        text = _choice_text(choices[0]) if isinstance(choices, list) and choices else ""
        if text:
            self.pieces += 1
            self.completion_chars += len(text)
            if self.first_piece_at is None:
                self.first_piece_at = time.monotonic()

    def whole(self) -> bytes:
        """The non-streamed answer fed so far."""
        return bytes(self._whole)

    def complete(self) -> bool:
        """At the end of the body: whether the answer reached its end marker ([DONE] or a finish reason)."""
        if self.streaming:
            self._line(b"")
        return self.ended or not self.streaming

    def finish(self) -> Counted:
        """The tokens of the whole response, from the engine's usage when it gave one."""
        if self.streaming:
            self._line(b"")
        else:
            self._whole_body()
        if self.usage is not None:
            return Counted(self.usage[0], self.usage[1], estimated=False)
        completion = self.pieces if self.streaming else math.ceil(self.completion_chars / 4)
        return Counted(self.prompt_estimate, completion, estimated=True)

    def _whole_body(self) -> None:
        try:
            payload = json.loads(bytes(self._whole))
        except ValueError:
            return
        if isinstance(payload, dict):
            self.usage = _usage(payload.get("usage"))
            choices = payload.get("choices")
            if isinstance(choices, list):
                self.completion_chars = sum(len(_choice_text(choice)) for choice in choices)
