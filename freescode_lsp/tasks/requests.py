"""What an editor action asks for: task, document, lines and version, carried as JSON in code actions."""

from __future__ import annotations

from typing import Any, TypeGuard

from attrs import define

from freescode_lsp.errors import FreescodeError
from freescode_lsp.task_table import RUNNABLE_TASKS
from freescode_lsp.tasks.repair_context import MAX_PROBLEMS, Problem


class BadTaskArgs(FreescodeError, ValueError):
    """The arguments of a freescode.runTask command are not usable."""


@define(frozen=True)
class TaskArgs:
    """A task on a document: the selection's or cursor's lines, the version they refer to, and the problems the
    editor reported there (from any source)."""

    uri: str
    task: str
    line: int
    end_line: int
    end_character: int = 0
    version: int | None = None
    problems: tuple[Problem, ...] = ()

    def selected_lines(self) -> tuple[int, int] | None:
        """The whole lines [start, end) a multi-line selection covers, or None for a cursor."""
        if self.end_line == self.line:
            return None
        end = self.end_line + 1 if self.end_character > 0 else self.end_line
        return self.line, end

    def to_json(self) -> dict[str, Any]:
        """The JSON form put in code actions and command arguments."""
        return {
            "uri": self.uri,
            "task": self.task,
            "line": self.line,
            "endLine": self.end_line,
            "endCharacter": self.end_character,
            "version": self.version,
            "problems": [_problem_json(problem) for problem in self.problems],
        }

    @classmethod
    def from_json(cls, value: Any) -> TaskArgs:
        """Parse command arguments, saying plainly what is wrong."""
        if not isinstance(value, dict):
            raise BadTaskArgs("expected an object with uri, task and line")
        uri, task, line = value.get("uri"), value.get("task"), value.get("line")
        if not isinstance(uri, str) or not uri:
            raise BadTaskArgs("uri must be a document URI")
        if task not in RUNNABLE_TASKS:
            raise BadTaskArgs(f"task must be one of {', '.join(RUNNABLE_TASKS)}, not {task!r}")
        if not _whole(line) or line < 0:
            raise BadTaskArgs("line must be a whole number >= 0")
        end_line = value.get("endLine", line)
        end_character = value.get("endCharacter", 0)
        version = value.get("version")
        if not _whole(end_line) or end_line < line:
            raise BadTaskArgs("endLine must be a whole number >= line")
        if not _whole(end_character) or end_character < 0:
            raise BadTaskArgs("endCharacter must be a whole number >= 0")
        if version is not None and not _whole(version):
            raise BadTaskArgs("version must be a whole number")
        return cls(uri, task, line, end_line, end_character, version, _problems(value.get("problems", [])))


def _whole(value: Any) -> TypeGuard[int]:
    """Whether the value is a whole number (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"message": problem.message, "line": problem.line, "endLine": problem.end_line, "source": problem.source}


def _problems(value: Any) -> tuple[Problem, ...]:
    """The problems of command arguments: a list of {message, line, endLine, source} objects."""
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise BadTaskArgs("problems must be a list of objects with a message")
    found = []
    for entry in value[:MAX_PROBLEMS]:
        message, line, end_line, source = (entry.get(key) for key in ("message", "line", "endLine", "source"))
        if not isinstance(message, str):
            raise BadTaskArgs("each problem needs a message (a string)")
        if any(number is not None and (not _whole(number) or number < 0) for number in (line, end_line)):
            raise BadTaskArgs("a problem's line and endLine must be whole numbers >= 0")
        found.append(Problem(message, line, end_line, source if isinstance(source, str) else None))
    return tuple(found)
