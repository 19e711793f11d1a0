"""Tell the editor who served a task: window/logMessage and the freescode/status notification."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from freescode_lsp.tasks.runner import TaskOutcome

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer

STATUS_METHOD = "freescode/status"


def cost_of(server: FreescodeServer, outcome: TaskOutcome) -> float:
    """Dollars spent: what the ledger recorded for the metered attempts of the task (local is free)."""
    return outcome.cost_usd


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
    """Log the outcome, say why the routed model was not used (if so), and send it to status bars."""
    payload = status_payload(server, outcome, state)
    payload["fallbackReason"] = server.features.fallbacks.explain(outcome)
    line = outcome.summary() + f", ${payload['costUsd']:.6f}"
    if outcome.problem:
        line += f" - {outcome.problem}"
    server.window_log_message(types.LogMessageParams(types.MessageType.Info, f"Free-S_Code {line}"))
    server.protocol.notify(STATUS_METHOD, payload)


def report_progress(server: FreescodeServer, task: str, model: str, state: str, tokens: int = 0) -> None:
    """A status update while a task runs (a spinner for status bars)."""
    server.protocol.notify(STATUS_METHOD, {"state": state, "task": task, "model": model, "completionTokens": tokens})
