"""What is known about a rewrite besides its code: the errors the user saw, the line they pointed at, and the
signatures of the functions the code calls that the same file defines; rendered as one block of the prompt."""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Sequence

from attrs import define, evolve

from freescode_lsp.task_table import task_spec
from freescode_lsp.tasks.prompts import TaskInput

MAX_PROBLEMS = 8
MAX_MESSAGE_CHARS = 300
CALLEE_BUDGET_CHARS = 1200
MAX_DOC_LINES = 6
JS_FUNCTION = re.compile(r"^\s*(?:export\s+)?(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)\s*\(")
JS_CALL = re.compile(r"([A-Za-z_$][\w$]*)\s*\(")
JS_LANGUAGES = ("javascript", "typescript", "javascriptreact", "typescriptreact")
# For measuring what each input gives: the repair bench's `--leave-out` sets this; users leave it unset.
LEAVE_OUT_ENV = "FREESCODE_REPAIR_LEAVE_OUT"
INPUTS = ("problems", "line", "callees", "retry", "failure")


@define(frozen=True)
class Problem:
    """An error reported for the code: its 0-based file lines (None when unknown), message and who reported it."""

    message: str
    line: int | None = None
    end_line: int | None = None
    source: str | None = None

    def overlaps(self, start: int, end: int) -> bool:
        """Whether it is about lines [start, end) (a problem without lines always is)."""
        if self.line is None:
            return True
        last = self.end_line if self.end_line is not None else self.line
        return self.line < end and last >= start

    def described(self) -> str:
        """One line for the prompt: where, who, what."""
        where = f"line {self.line + 1}: " if self.line is not None else ""
        who = f"({self.source}) " if self.source else ""
        return f"- {where}{who}{' '.join(self.message.split())[:MAX_MESSAGE_CHARS]}"


@define(frozen=True)
class Clues:
    """The prompt's extra lines: errors, the line pointed at, callee signatures, and a note for a second try."""

    problems: tuple[Problem, ...] = ()
    near_line: str = ""
    callees: tuple[str, ...] = ()
    retry_note: str = ""

    def render(self, language: str) -> str:
        """The block put after the code, or "" when there is nothing to say."""
        parts = []
        if self.problems:
            parts.append("Errors reported for this code:\n" + "\n".join(p.described() for p in self.problems))
        if self.near_line:
            parts.append(self.near_line)
        if self.callees:
            joined = "\n\n".join(self.callees)
            parts.append(f"Functions it calls, defined elsewhere in the file (for reference only):\n```{language}\n{joined}\n```")
        if self.retry_note:
            parts.append(self.retry_note)
        return "\n\n".join(parts)


def left_out() -> frozenset[str]:
    """The repair inputs this process leaves out (FREESCODE_REPAIR_LEAVE_OUT, comma-separated names from INPUTS)."""
    return frozenset(name.strip() for name in os.environ.get(LEAVE_OUT_ENV, "").split(",")) & frozenset(INPUTS)


def with_clues(
    item: TaskInput, problems: Iterable[Problem] = (), pointed: int | None = None, selected: bool = False
) -> TaskInput:
    """The item with what is known about it: the problems on its lines, the line pointed at (a cursor inside a unit of
    more than one line; 0-based), and the signatures of what it calls, for a task that rewrites code."""
    spec = task_spec(item.task)
    if not spec.rewrites_code:
        return item
    lines = item.surrounding.lines if item.surrounding else tuple(item.code.splitlines())
    start = item.surrounding.target_start if item.surrounding else 0
    end = item.surrounding.target_end if item.surrounding else len(lines)
    skipped = left_out()
    found = tuple(problem for problem in problems if problem.message.strip() and problem.overlaps(start, end))
    near = ""
    if spec.near_line and pointed is not None and not selected and start <= pointed < end and end - start > 1:
        text = lines[pointed].strip()
        near = spec.near_line.format(line=text) if text else ""
    clues = Clues(
        () if "problems" in skipped else found[:MAX_PROBLEMS],
        "" if "line" in skipped else near,
        () if "callees" in skipped else callee_signatures(lines, start, end, item.language),
    )
    return evolve(item, clues=clues) if clues.render(item.language) else item


def callee_signatures(
    lines: Sequence[str], start: int, end: int, language: str, budget: int = CALLEE_BUDGET_CHARS
) -> tuple[str, ...]:
    """The headers (and docstrings) of functions defined in the file outside lines [start, end) that those lines call,
    in the order they are defined, as many as fit in `budget` characters."""
    if language == "python":
        found = _python_callees(lines, start, end)
    elif language in JS_LANGUAGES:
        found = _js_callees(lines, start, end)
    else:
        return ()
    kept: list[str] = []
    used = 0
    for text in found:
        if used + len(text) > budget:
            break
        kept.append(text)
        used += len(text)
    return tuple(kept)


def _python_callees(lines: Sequence[str], start: int, end: int) -> list[str]:
    source = "\n".join(lines)
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and start < node.lineno <= end:
            function = node.func
            if isinstance(function, ast.Name):
                called.add(function.id)
            elif isinstance(function, ast.Attribute):
                called.add(function.attr)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name not in called:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        if start <= first < end or not node.body:
            continue
        header = [line.rstrip() for line in lines[node.lineno - 1 : node.body[0].lineno - 1]] or [lines[node.lineno - 1]]
        indent = len(header[0]) - len(header[0].lstrip())
        text = "\n".join(line[indent:] for line in header)
        doc = ast.get_docstring(node)
        if doc:
            doc_lines = doc.strip().splitlines()[:MAX_DOC_LINES]
            text += "\n" + "\n".join(f"    {line}".rstrip() for line in ['"""', *doc_lines, '"""'])
        found.append((node.lineno, text + "\n    ..."))
    return [text for _, text in sorted(found)]


def _js_callees(lines: Sequence[str], start: int, end: int) -> list[str]:
    called = {name for line in lines[start:end] for name in JS_CALL.findall(line)}
    found = []
    for number, line in enumerate(lines):
        match = JS_FUNCTION.match(line)
        if match and match.group(1) in called and not start <= number < end:
            comment = _js_comment_above(lines, number)
            found.append("\n".join([*comment, line.strip().rstrip("{").rstrip() + " { ... }"]))
    return found


def _js_comment_above(lines: Sequence[str], number: int) -> list[str]:
    """The `//` or `/** */` lines right above a JavaScript function, at most MAX_DOC_LINES of them."""
    above: list[str] = []
    index = number - 1
    while index >= 0 and len(above) < MAX_DOC_LINES:
        text = lines[index].strip()
        if not text.startswith(("//", "/*", "*")):
            break
        above.insert(0, text)
        index -= 1
    return above
