"""The code unit a task works on: the function, class, statement or block around a line."""

from __future__ import annotations

import ast
import re
from collections import Counter

from attrs import define

from freescode_lsp.edits import split_lines

_PYTHON = {"python", "py", "python3"}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_CLOSING = re.compile(r"[)\]}][)\]};,]*|(?:end\w*|fi|done|esac)[);,.]*")
_CONTINUATION = re.compile(r"[)\]}].*|(?:else|elif|elsif|except|finally|catch|rescue|ensure)\b.*")
_HEADER = re.compile(
    r"\s*(?:[\w()]+\s+)*?(def|class|fn|function|func|sub|struct|enum|trait|impl|interface|module)"
    r"\s+([^\W\d][\w$]*)"
)
_METHOD = re.compile(r"\s*(?:[\w<>\[\],.?]+\s+)*?([^\W\d][\w$]*)\s*\(.*\)[^;=]*\{\s*")
_FUNCTION_WORDS = {"def", "fn", "function", "func", "sub"}
_CONTROL_WORDS = {"if", "for", "while", "switch", "catch", "with", "return", "foreach", "until", "unless"}


@define(frozen=True)
class CodeUnit:
    """Whole lines [start, end) of a function, class, statement or block; 0-based."""

    start: int
    end: int
    kind: str
    name: str | None


def enclosing_unit(text: str, line: int, language: str = "python") -> CodeUnit:
    """The innermost function or class around line (Python), else the statement or indented block."""
    lines = split_lines(text)
    if not lines:
        return CodeUnit(0, 0, "block", None)
    line = min(max(line, 0), len(lines) - 1)
    tree = _parse(text) if language.lower() in _PYTHON else None
    if tree is None:
        return _indent_unit(lines, line, language.lower() in _PYTHON)
    units = [_def_unit(node, lines) for node in ast.walk(tree) if isinstance(node, _DEFS)]
    around = [u for u in units if u.start <= line < u.end]
    if around:
        return max(around, key=lambda u: (u.start, -u.end))
    return _statement_unit(tree.body, lines, line)


def units_in(text: str, language: str = "python") -> list[CodeUnit]:
    """The top-level units: Python functions and classes, else outermost indented blocks."""
    lines = split_lines(text)
    tree = _parse(text) if language.lower() in _PYTHON else None
    if tree is None:
        return [_block_unit(lines, block) for block in _outermost(_blocks(lines))]
    return [_def_unit(node, lines) for node in tree.body if isinstance(node, _DEFS)]


def changed_units(old_text: str, new_text: str, language: str = "python") -> list[CodeUnit]:
    """Units of new_text whose lines are not those of some unit of old_text, wherever it sat."""
    old_lines, new_lines = split_lines(old_text), split_lines(new_text)
    old = Counter(tuple(old_lines[u.start : u.end]) for u in units_in(old_text, language))
    changed = []
    for unit in units_in(new_text, language):
        key = tuple(new_lines[unit.start : unit.end])
        if old[key]:
            old[key] -= 1
        else:
            changed.append(unit)
    return changed


def _parse(text: str) -> ast.Module | None:
    """The module's syntax tree, or None when it does not parse."""
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def _def_unit(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, lines: list[str]) -> CodeUnit:
    """A def or class with its decorators and the indented comments that trail its body."""
    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    end = _with_trailing_comments(lines, node.lineno - 1, node.end_lineno or node.lineno)
    kind = "class" if isinstance(node, ast.ClassDef) else "function"
    return CodeUnit(start, end, kind, node.name)


def _with_trailing_comments(lines: list[str], head: int, end: int) -> int:
    """End extended over comment lines indented deeper than the head line."""
    base = _indent(lines[head])
    last = end
    for i in range(end, len(lines)):
        text = lines[i].strip()
        if not text:
            continue
        if not text.startswith("#") or _indent(lines[i]) <= base:
            break
        last = i + 1
    return last


def _statement_unit(body: list[ast.stmt], lines: list[str], line: int) -> CodeUnit:
    """The top-level statement holding line; else, from a blank line, the code just above, otherwise the next.

    A statement that is only a string (a docstring) is never picked as the code between others; a line
    inside one gives a "docstring" unit, which tasks that rewrite code refuse.
    """
    if not body:
        return _indent_unit(lines, line, True)
    spans = [(_stmt_start(s), s.end_lineno or s.lineno, s) for s in body]
    hits = [span for span in spans if span[0] <= line < span[1]]
    if not hits:
        code = [span for span in spans if not _is_docstring(span[2])] or spans
        before = [span for span in code if span[1] <= line]
        after = [span for span in code if span[0] > line]
        blank = not lines[line].strip()
        chosen = before[-1] if blank and before else after[0] if after else before[-1] if before else code[-1]
        hits = [span for span in spans if span[0] <= chosen[0] < span[1]]
    if all(_is_docstring(span[2]) for span in hits):
        return CodeUnit(min(s for s, _, _ in hits), max(e for _, e, _ in hits), "docstring", None)
    if len(hits) == 1 and isinstance(hits[0][2], _DEFS):
        return _def_unit(hits[0][2], lines)
    start, end = min(s for s, _, _ in hits), max(e for _, e, _ in hits)
    grown = True
    while grown:
        grown = False
        for s, e, _ in spans:
            if s < end and e > start and (s < start or e > end):
                start, end, grown = min(s, start), max(e, end), True
    return CodeUnit(start, end, "statement", _target_name(hits[0][2]))


def _is_docstring(stmt: ast.stmt) -> bool:
    """A statement that is only a string literal: documentation, not code to fix."""
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _stmt_start(stmt: ast.stmt) -> int:
    """First line of a statement, decorators included; 0-based."""
    decorators: list[ast.expr] = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno] + [d.lineno for d in decorators]) - 1


def _target_name(stmt: ast.stmt) -> str | None:
    """The name an assignment binds, when it binds one plain name."""
    if isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        return stmt.target.id if isinstance(stmt.target, ast.Name) else None
    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
    if len(targets) == 1 and isinstance(targets[0], ast.Name):
        return targets[0].id
    return None


def _indent_unit(lines: list[str], line: int, python: bool = False) -> CodeUnit:
    """The indented block around line; for Python the innermost def/class, else the outermost block."""
    blocks = _blocks(lines)
    around = [b for b in blocks if b[0] <= line < b[2]]
    if not around and not lines[line].strip():
        code = [i for i in range(line, len(lines)) if lines[i].strip()]
        code = code or [i for i in range(line) if lines[i].strip()][-1:]
        if code:
            return _indent_unit(lines, code[0], python)
    if not around:
        return CodeUnit(line, line + 1, "statement", None)
    if python:
        defs = [b for b in around if _HEADER.match(lines[b[1]])]
        return _block_unit(lines, max(defs, key=lambda b: b[1]) if defs else min(around, key=lambda b: b[1]))
    return _block_unit(lines, max(around, key=lambda b: b[1]))


def _block_unit(lines: list[str], block: tuple[int, int, int]) -> CodeUnit:
    """A block as a unit, named after the definition its opening line makes, if any."""
    start, opener, end = block
    header = _HEADER.match(lines[opener])
    method = _METHOD.fullmatch(lines[opener])
    if header is None and method and method.group(1) not in _CONTROL_WORDS:
        return CodeUnit(start, end, "function", method.group(1))
    if header is None:
        return CodeUnit(start, end, "block", None)
    kind = "function" if header.group(1) in _FUNCTION_WORDS else "class"
    return CodeUnit(start, end, kind, header.group(2))


def _blocks(lines: list[str]) -> list[tuple[int, int, int]]:
    """Every (start, opener, end) block: a line followed by deeper lines, with decorators and closer."""
    blocks = []
    following: int | None = None
    opens = [False] * len(lines)
    for i in range(len(lines) - 1, -1, -1):
        opens[i] = following is not None and following > _indent(lines[i])
        if lines[i].strip():
            following = _indent(lines[i])
    for i, text in enumerate(lines):
        if opens[i] and text.strip() and not _CONTINUATION.fullmatch(text.strip()):
            start = i
            while start > 0 and lines[start - 1].strip().startswith(("@", "#[")):
                if _indent(lines[start - 1]) != _indent(text):
                    break
                start -= 1
            blocks.append((start, i, _block_end(lines, i)))
    return blocks


def _block_end(lines: list[str], opener: int) -> int:
    """End of the block opened at opener: deeper lines, else/catch lines, and a closing line."""
    base = _indent(lines[opener])
    last = opener
    for i in range(opener + 1, len(lines)):
        text = lines[i].strip()
        if not text or _indent(lines[i]) > base:
            last = i if text else last
            continue
        if _indent(lines[i]) == base and _CLOSING.fullmatch(text):
            return i + 1
        if _indent(lines[i]) == base and _CONTINUATION.fullmatch(text):
            last = i
            continue
        break
    return last + 1


def _outermost(blocks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The blocks no other block holds."""
    kept: list[tuple[int, int, int]] = []
    for block in blocks:
        if not kept or block[1] >= kept[-1][2]:
            kept.append(block)
    return kept


def _indent(line: str) -> int:
    """Width of the line's leading spaces and tabs, tabs to 8."""
    return len(line[: len(line) - len(line.lstrip(" \t"))].expandtabs(8))
