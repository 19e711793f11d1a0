"""The one interface between tasks and engines: request in, chunk stream out."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

from attrs import define, field

from freescode_lsp.errors import FreescodeError

Role = Literal["system", "user", "assistant"]


@define(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@define(frozen=True)
class Usage:
    """Tokens spent by one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def note(self) -> str | None:
        """Why these counts differ from what the engine claimed, or None when they do not."""
        return None


CONTEXT_PLACEHOLDER = "\u27e6surrounding code\u27e7"


@define(frozen=True)
class SurroundingCode:
    """The file around the target, which an engine may cut to fit the model's context."""

    lines: tuple[str, ...]
    target_start: int
    target_end: int
    marker: str = "# ... (the code being worked on goes here) ..."


@define(frozen=True)
class Infill:
    """Fill-in-the-middle: the code before and after the cursor; each engine puts it in its model's FIM format."""

    prefix: str
    suffix: str


@define
class GenerationRequest:
    """What to generate: a model, chat messages or a raw prompt, and limits."""

    model: str
    messages: list[Message] = field(factory=list)
    prompt: str | None = None
    max_tokens: int = 512
    stop: list[str] = field(factory=list)
    prompt_stop: list[str] = field(factory=list)
    temperature: float = 0.2
    json_schema: dict[str, Any] | None = None
    deadline: float | None = None
    surrounding: SurroundingCode | None = None
    continuation: str = ""
    infill: Infill | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline, or None when there is none."""
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()


@define(frozen=True)
class Chunk:
    """A piece of generated text; the last chunk carries usage and, from the router, what the request cost."""

    text: str = ""
    usage: Usage | None = None
    model: str | None = None
    engine: str | None = None
    finish_reason: str | None = None
    cost_usd: float | None = None


class Engine(Protocol):
    """Anything that can stream a generation."""

    name: str

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Yield chunks of text, the last with usage; cancellable between chunks."""
        ...


class EngineError(FreescodeError):
    """A generation could not be done by this engine; subclasses say whether it rests the host that caused it."""

    rests_host: bool = False
    """Whether the failure says the host is down, stalled or overloaded (not that the request was bad)."""

    retry_after: float | None = None
    """Seconds the host asked to be left alone (HTTP Retry-After), when it said."""


class ModelUnavailable(EngineError):
    """The engine has no way to run the requested model."""


class ModelLoadError(EngineError):
    """The model file is missing, corrupt, or does not fit in memory."""


class GenerationTimeout(EngineError):
    """The request's deadline passed before the answer was complete."""


class PromptRenderError(EngineError):
    """The model's chat template failed or ran past its time."""


class GenerationFailed(EngineError):
    """The engine failed while generating; the message names the model and what went wrong."""
