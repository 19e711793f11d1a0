"""Model findings kept with the code they are about: code that moves keeps them, code that changes loses them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from attrs import define
from lsprotocol import types

from freescode_lsp.lsp.features.lines import plain_lines
from freescode_lsp.lsp.features.syntax import SOURCE
from freescode_lsp.task_table import task_shown_in

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

SEVERITIES = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


@define(frozen=True)
class Found:
    """A finding with lines relative to the first line of its code (0-based, inclusive)."""

    line: int
    end_line: int
    severity: str
    message: str
    model: str


@define(frozen=True)
class Answer:
    """What a model said about one piece of code; cached by model, language and text."""

    model: str
    findings: tuple[Found, ...]


@define
class Checked:
    """Code the debug task has looked at, where it was last seen, and what was found in it."""

    lines: tuple[str, ...]
    start: int
    requested_model: str
    answer: Answer


def _lines_range(document: TextDocument, lines: Sequence[str], first: int, last: int) -> types.Range:
    """Whole lines first..last, from the first code character to the end of the last line."""
    codec = document.position_codec
    head = lines[first]
    indent = len(head) - len(head.lstrip(" \t"))
    if indent == len(head):
        indent = 0
    return types.Range(
        types.Position(first, codec.client_num_units(head[:indent])),
        types.Position(last, codec.client_num_units(lines[last])),
    )


def _place(checked: dict[str, Checked], lines: Sequence[str]) -> list[Checked]:
    """Find each checked piece of code in the lines, nearest where it was; forget what is gone."""
    where: dict[str, list[int]] = {}
    for number, text in enumerate(lines):
        where.setdefault(text, []).append(number)
    placed = []
    for key, entry in list(checked.items()):
        size = len(entry.lines)
        spots = [s for s in where.get(entry.lines[0], ()) if tuple(lines[s : s + size]) == entry.lines] if size else []
        if not spots:
            del checked[key]
            continue
        entry.start = min(spots, key=lambda spot: abs(spot - entry.start))
        placed.append(entry)
    return placed


def finding_diagnostics(document: TextDocument, checked: dict[str, Checked]) -> list[types.Diagnostic]:
    """The findings of the checked code still in the document, where that code is now; gone code is forgotten."""
    if not checked:
        return []
    lines = plain_lines(document)
    diagnostics: list[types.Diagnostic] = []
    seen: set[tuple[int, int, str]] = set()
    for entry in _place(checked, lines):
        last_line = entry.start + len(entry.lines) - 1
        for found in entry.answer.findings:
            first = min(entry.start + found.line, last_line)
            last = min(max(entry.start + found.end_line, first), last_line)
            if (first, last, found.message) in seen:
                continue
            seen.add((first, last, found.message))
            diagnostics.append(
                types.Diagnostic(
                    range=_lines_range(document, lines, first, last),
                    message=f"{found.message} ({found.model})",
                    severity=SEVERITIES.get(found.severity, types.DiagnosticSeverity.Warning),
                    code=task_shown_in("diagnostics").id,
                    source=SOURCE,
                )
            )
    return sorted(diagnostics, key=lambda d: (d.range.start.line, d.range.start.character))
