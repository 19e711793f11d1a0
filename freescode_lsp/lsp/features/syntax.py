"""Python syntax errors as diagnostics, placed with the document's own position encoding."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from lsprotocol import types

from freescode_lsp.lsp.features.documents import language_for
from freescode_lsp.lsp.features.lines import plain_lines

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

SOURCE = "freescode"
PYTHON = frozenset({"python", "py", "python3"})


def syntax_diagnostics(document: TextDocument) -> list[types.Diagnostic]:
    """The Python syntax error of the document, if it has one (nothing for other languages)."""
    if language_for(document).lower() not in PYTHON:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(document.source, document.path or document.uri, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [_syntax_diagnostic(document, exc)]
    except (ValueError, RecursionError, MemoryError):
        return []
    return []


def _syntax_diagnostic(document: TextDocument, exc: SyntaxError) -> types.Diagnostic:
    lines = plain_lines(document) or ("",)
    line = min(max((exc.lineno or 1) - 1, 0), len(lines) - 1)
    column = min(max((exc.offset or 1) - 1, 0), len(lines[line]))
    end_line, end_column = line, len(lines[line])
    if exc.end_lineno is not None and exc.end_offset is not None and exc.end_lineno - 1 < len(lines):
        candidate = (exc.end_lineno - 1, min(max(exc.end_offset - 1, 0), len(lines[exc.end_lineno - 1])))
        if candidate > (line, column):
            end_line, end_column = candidate
    if (end_line, end_column) == (line, column):
        if end_column < len(lines[line]):
            end_column += 1
        elif column > 0:
            column -= 1
    codec = document.position_codec
    return types.Diagnostic(
        range=types.Range(
            types.Position(line, codec.client_num_units(lines[line][:column])),
            types.Position(end_line, codec.client_num_units(lines[end_line][:end_column])),
        ),
        message=exc.msg or "invalid syntax",
        severity=types.DiagnosticSeverity.Error,
        code="syntax",
        source=SOURCE,
    )
