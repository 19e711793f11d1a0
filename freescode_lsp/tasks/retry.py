"""A rewrite that gave the code back unchanged is asked once more, sampled, saying the first answer changed nothing."""

from __future__ import annotations

from attrs import evolve

from freescode_lsp.edits import lines_with_ends
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.task_table import task_spec
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.repair_context import Clues, left_out

RETRY_TEMPERATURE = 0.6


def same_code(old: str, new: str) -> bool:
    """Whether two texts differ only in blank lines and trailing spaces."""

    def shape(text: str) -> list[str]:
        return [line.rstrip() for line in lines_with_ends(text) if line.strip()]

    return shape(old) == shape(new)


def second_try(item: TaskInput, answer: str | None) -> TaskInput | None:
    """The item to ask again with, when the answer is the item's code unchanged and its task asks again; else None."""
    note = task_spec(item.task).retry_note
    if not note or answer is None or not same_code(item.code, answer) or "retry" in left_out():
        return None
    return evolve(item, clues=evolve(item.clues or Clues(), retry_note=note))


def no_change_message(title: str, model: str, tries: int) -> str:
    """What the user is told when the model gave the code back as it was (after asking twice, when the task asks twice)."""
    asked = f", asked {tries} times" if tries > 1 else ""
    return f"{title}: {model} proposed no change{asked}; the code is left as it was"


def sampled(request: GenerationRequest) -> GenerationRequest:
    """The same request, sampled rather than near-greedy, so that the second answer can differ from the first."""
    return evolve(request, temperature=RETRY_TEMPERATURE)
