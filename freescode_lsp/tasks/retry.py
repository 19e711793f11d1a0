"""A rewrite that gave the code back unchanged is asked once more, sampled, saying the first answer changed nothing."""

from __future__ import annotations

from attrs import evolve

from freescode_lsp.edits import lines_with_ends
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.task_table import task_spec
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.repair_context import Clues, left_out

RETRY_TEMPERATURE = 0.6
COMMENT_MARKS: dict[str, tuple[str, ...]] = {
    "python": ("#",),
    **{language: ("//",) for language in ("javascript", "typescript", "javascriptreact", "typescriptreact")},
    **{language: ("//",) for language in ("c", "cpp", "java", "go", "rust", "csharp", "kotlin", "swift")},
    "lua": ("--",),
    "shellscript": ("#",),
    "ruby": ("#",),
}


def code_lines(text: str, language: str | None = None) -> list[str]:
    """The text's non-blank lines without trailing spaces; given a language, its whole-line comments left out."""
    marks = COMMENT_MARKS.get(language or "", ())
    return [line.rstrip() for line in lines_with_ends(text) if line.strip() and not line.lstrip().startswith(marks)]


def same_code(old: str, new: str, language: str | None = None) -> bool:
    """Whether two texts differ only in blank lines and trailing spaces (and, given a language, whole-line comments)."""
    return code_lines(old, language) == code_lines(new, language)


def unchanged_answer(item: TaskInput, answer: str) -> bool:
    """Whether an answer leaves the item's code as it was: for a task that must change code, comments do not count."""
    return same_code(item.code, answer, item.language if task_spec(item.task).must_change_code else None)


def second_try(item: TaskInput, answer: str | None) -> TaskInput | None:
    """The item to ask again with, when the answer is the item's code unchanged and its task asks again; else None."""
    note = task_spec(item.task).retry_note
    if not note or answer is None or not unchanged_answer(item, answer) or "retry" in left_out():
        return None
    return evolve(item, clues=evolve(item.clues or Clues(), retry_note=note))


def no_change_message(title: str, model: str, tries: int) -> str:
    """What the user is told when the model gave the code back as it was (after asking twice, when the task asks twice)."""
    asked = f", asked {tries} times" if tries > 1 else ""
    return f"{title}: {model} proposed no change{asked}; the code is left as it was"


def sampled(request: GenerationRequest) -> GenerationRequest:
    """The same request, sampled rather than near-greedy, so that the second answer can differ from the first."""
    return evolve(request, temperature=RETRY_TEMPERATURE)
