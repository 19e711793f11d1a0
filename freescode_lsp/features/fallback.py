"""Why the routed model did not answer: shown once per cause with what to do, logged after, sent in freescode/status."""

from __future__ import annotations

import re
import weakref
from typing import TYPE_CHECKING

from attrs import define, field
from cachetools import LRUCache
from lsprotocol import types

from freescode_lsp.tasks.runner import TaskOutcome

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

MAX_REASON_CHARS = 400


@define
class FallbackNotes:
    """Per server: the last failure of each model's attempts, and the causes the user was already shown."""

    failures: LRUCache[str, str] = field(factory=lambda: LRUCache(maxsize=64))
    told: set[str] = field(factory=set)


_NOTES: weakref.WeakKeyDictionary[FreescodeServer, FallbackNotes] = weakref.WeakKeyDictionary()


def _notes(server: FreescodeServer) -> FallbackNotes:
    notes = _NOTES.get(server)
    if notes is None:
        notes = _NOTES[server] = FallbackNotes()
    return notes


def note_failure(server: FreescodeServer, label: str, why: str) -> None:
    """Remember why an attempt failed (router.on_fallback), for the model the attempt was for."""
    model, _, engine = label.partition("@")
    advice = "" if engine == "local" else "; check that node or its settings, or remove it from the config"
    _notes(server).failures[model] = f"{label} failed: {why}"[:MAX_REASON_CHARS] + advice


def fallback_reason(server: FreescodeServer, outcome: TaskOutcome) -> str | None:
    """Why the model routing names for the task did not answer, with what to do; None when it answered."""
    asked, answered = routed_model(server, outcome), outcome.model
    failures = _notes(server).failures
    if answered == asked:
        failures.pop(asked, None)
    if not answered or answered == asked:
        return None
    failure = failures.get(asked)
    if failure is not None:
        return failure
    router = server.router
    reasons = [r for r in router.unavailable_reasons(asked) if r.startswith(asked)] if router is not None else []
    return reasons[0][:MAX_REASON_CHARS] if reasons else f"{asked} could not answer"


def routed_model(server: FreescodeServer, outcome: TaskOutcome) -> str:
    """The model routing names for the outcome's task (the one asked for when the task has no route)."""
    router = server.router
    return router.model_for(outcome.task) if router is not None else outcome.requested_model


def explain(server: FreescodeServer, outcome: TaskOutcome) -> str | None:
    """Tell the user why the routed model was not used: a message the first time per cause, the log after."""
    reason = fallback_reason(server, outcome)
    if reason is None:
        return None
    message = f"{routed_model(server, outcome)} was not used, {outcome.model} answered instead: {reason}"
    cause = re.sub(r"\d+(\.\d+)?", "#", reason)
    notes = _notes(server)
    if cause not in notes.told and len(notes.told) < 256:
        notes.told.add(cause)
        server.tell_user(message)
    else:
        server.window_log_message(types.LogMessageParams(types.MessageType.Info, f"Free-S_Code: {message}"))
    return reason
