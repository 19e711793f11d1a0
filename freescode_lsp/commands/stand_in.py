"""Which model answered: a stand-in for the one asked for is said, and its answer written only when allowed."""

from __future__ import annotations

from freescode_lsp.routing.router import Router
from freescode_lsp.tasks.runner import Stage, TaskOutcome

EXIT_FALLBACK_REFUSED = 3


def stand_in(router: Router, outcome: TaskOutcome, task: str) -> str | None:
    """'X answered instead of Y' when a stage's answer came from a model other than the one asked for, else None."""
    for stage in outcome.stages or [Stage(task, outcome.model or outcome.requested_model)]:
        wanted = outcome.requested_model if stage.task == task else router.model_for(stage.task)
        if stage.model and stage.model != wanted:
            return f"{stage.model} answered instead of {wanted}"
    return None
