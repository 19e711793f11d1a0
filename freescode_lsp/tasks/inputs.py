"""From a document's text to a task's input: the lines a task works on, and the code and file around them.

The language server and `freescode run` both come through here; each says what went wrong in its own words.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define

from freescode_lsp.edits import split_lines
from freescode_lsp.engines.base import SurroundingCode
from freescode_lsp.errors import FreescodeError
from freescode_lsp.task_table import task_spec
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.units import CodeUnit, enclosing_unit


class UnusableRegion(FreescodeError, ValueError):
    """The lines asked for cannot be worked on."""


class EmptyText(UnusableRegion):
    """The text has no lines."""


class LinePastEnd(UnusableRegion):
    """The line asked for is past the last line."""

    def __init__(self, line: int, total: int) -> None:
        super().__init__(f"line {line + 1} is past the end ({total} lines)")
        self.line = line
        self.total = total


class InDocstring(UnusableRegion):
    """A rewrite was asked for at a docstring, which is not code."""

    def __init__(self, unit: CodeUnit) -> None:
        super().__init__(f"lines {unit.start + 1}-{unit.end} are a docstring, not code")
        self.unit = unit


@define(frozen=True)
class TaskRegion:
    """Lines [start, end) a task works on (0-based), and the code unit they are (None for a selection)."""

    start: int
    end: int
    unit: CodeUnit | None = None


def task_region(text: str, language: str, task: str, line: int, selected: tuple[int, int] | None = None) -> TaskRegion:
    """The selected whole lines, or the code unit around `line`; never past the end, never a docstring to rewrite."""
    total = len(split_lines(text))
    if total == 0:
        raise EmptyText("the text is empty")
    if line > total:
        raise LinePastEnd(line, total)
    if selected is not None:
        start, end = min(selected[0], total - 1), min(selected[1], total)
        return TaskRegion(start, max(end, start + 1))
    unit = enclosing_unit(text, min(line, total - 1), language)
    if unit.kind == "docstring" and task_spec(task).rewrites_code:
        raise InDocstring(unit)
    return TaskRegion(unit.start, max(unit.end, unit.start + 1), unit)


def lines_input(task: str, lines: Sequence[str], language: str, start: int, end: int) -> TaskInput:
    """Lines [start, end) of `lines` (without their endings) as a task's input, with the whole file around them."""
    code = "".join(line + "\n" for line in lines[start:end])
    return TaskInput(task, code, language, SurroundingCode(tuple(lines), start, end))


def task_input(text: str, language: str, task: str, region: TaskRegion) -> TaskInput:
    """The region's code, with line endings made `\\n`, and the file around it, as the task's prompt needs them."""
    return lines_input(task, split_lines(text), language, region.start, region.end)
