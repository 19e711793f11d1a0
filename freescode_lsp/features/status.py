"""Tell the editor who served a task: window/logMessage and the freescode/status notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from freescode_lsp.tasks.runner import TaskOutcome

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

STATUS_METHOD = "freescode/status"


def cost_of(server: FreescodeServer, outcome: TaskOutcome) -> float:
    """Dollars spent: tokens / 1000 x the serving node's price (local is free)."""
    router = server.router
    if router is None or not outcome.engine or outcome.engine == "local":
        return 0.0
    for engine in router.remotes:
        if engine.name == outcome.engine:
            return outcome.usage.total_tokens / 1000 * float(engine.price_per_1k or 0.0)
    return 0.0


def status_payload(server: FreescodeServer, outcome: TaskOutcome, state: str) -> dict[str, Any]:
    """The freescode/status body: task, model, engine, tokens, time, tokens/s and cost."""
    seconds = outcome.seconds
    return {
        "state": state,
        "task": outcome.task,
        "model": outcome.model or outcome.requested_model,
        "requestedModel": outcome.requested_model,
        "engine": outcome.engine,
        "promptTokens": outcome.usage.prompt_tokens,
        "completionTokens": outcome.usage.completion_tokens,
        "seconds": round(seconds, 3),
        "tokensPerSecond": _rate(outcome),
        "costUsd": round(cost_of(server, outcome), 6),
        "problem": outcome.problem,
    }


def _rate(outcome: TaskOutcome) -> float | None:
    """Completion tokens per second of generation, not counting model load and prompt time."""
    generating = outcome.seconds - (outcome.first_token_s or 0.0)
    if outcome.usage.completion_tokens < 2 or generating <= 0:
        return None
    return round((outcome.usage.completion_tokens - 1) / generating, 1)


def report(server: FreescodeServer, outcome: TaskOutcome, state: str = "done") -> None:
    """Log the outcome and send it to status bars."""
    payload = status_payload(server, outcome, state)
    line = outcome.summary() + f", ${payload['costUsd']:.6f}"
    if outcome.problem:
        line += f" - {outcome.problem}"
    server.window_log_message(types.LogMessageParams(types.MessageType.Info, f"Free-S_Code {line}"))
    server.protocol.notify(STATUS_METHOD, payload)


def report_progress(server: FreescodeServer, task: str, model: str, state: str, tokens: int = 0) -> None:
    """A status update while a task runs (a spinner for status bars)."""
    server.protocol.notify(
        STATUS_METHOD, {"state": state, "task": task, "model": model, "completionTokens": tokens}
    )
