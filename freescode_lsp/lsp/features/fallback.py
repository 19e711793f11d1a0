"""Why the routed model did not answer: shown once per cause with what to do, logged after, sent in freescode/status."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from cachetools import LRUCache
from lsprotocol import types

from freescode_lsp.tasks.runner import TaskOutcome

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer

MAX_REASON_CHARS = 400


class Fallbacks:
    """The last failure of each model's attempts, and the causes the user was already shown."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.failures: LRUCache[str, str] = LRUCache(maxsize=64)
        self.told: set[str] = set()

    def note_failure(self, label: str, why: str) -> None:
        """Remember why an attempt failed (router.on_fallback), for the model the attempt was for."""
        model, _, engine = label.partition("@")
        advice = "" if engine == "local" else "; check that node or its settings, or remove it from the config"
        self.failures[model] = f"{label} failed: {why}"[:MAX_REASON_CHARS] + advice

    def reason(self, outcome: TaskOutcome) -> str | None:
        """Why the model routing names for the task did not answer, with what to do; None when it answered."""
        asked, answered = self.routed_model(outcome), outcome.model
        if answered == asked:
            self.failures.pop(asked, None)
        if not answered or answered == asked:
            return None
        failure = self.failures.get(asked)
        if failure is not None:
            return failure
        router = self.server.router
        reasons = [r for r in router.unavailable_reasons(asked) if r.startswith(asked)] if router is not None else []
        return reasons[0][:MAX_REASON_CHARS] if reasons else f"{asked} could not answer"

    def routed_model(self, outcome: TaskOutcome) -> str:
        """The model routing names for the outcome's task (the one asked for when the task has no route)."""
        router = self.server.router
        return router.model_for(outcome.task) if router is not None else outcome.requested_model

    def explain(self, outcome: TaskOutcome, log_repeats: bool = True) -> str | None:
        """Tell the user why the routed model was not used: a message the first time per cause, the log after
        (unless `log_repeats` is off, for suggestions that come at every pause in typing)."""
        reason = self.reason(outcome)
        if reason is None:
            return None
        message = f"{self.routed_model(outcome)} was not used, {outcome.model} answered instead: {reason}"
        cause = re.sub(r"\d+(\.\d+)?", "#", reason)
        if cause not in self.told and len(self.told) < 256:
            self.told.add(cause)
            self.server.tell_user(message)
        elif log_repeats:
            self.server.window_log_message(types.LogMessageParams(types.MessageType.Info, f"Free-S_Code: {message}"))
        return reason
