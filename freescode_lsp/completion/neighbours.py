"""Code the model cannot see from the cursor: the signatures and docstrings of the functions and classes the code
near the cursor uses, defined in other open Python files, as comment lines put before the prompt's code.

The block is ordered by where each name is first used in the window, so it holds still while the user types (the
prompt's start, and the model's cache of it, stay the same) and grows only at a new name. It is kept short.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping

from attrs import define

MAX_CHARS = 800
SIGNATURE_LINES = 3
NAME = re.compile(r"\b[A-Za-z_]\w*\b")


@define(frozen=True)
class Definition:
    """A top-level function or class of a file: its name, the file's name, and its signature and docstring."""

    name: str
    file: str
    text: str


def definitions(source: str, file: str) -> list[Definition]:
    """The top-level functions and classes of Python source (none when it does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError):
        return []
    lines = source.split("\n")
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            end = min(node.body[0].lineno - 1, node.lineno - 1 + SIGNATURE_LINES)
            signature = "\n".join(lines[node.lineno - 1 : max(end, node.lineno)]).rstrip()
            doc = (ast.get_docstring(node) or "").strip().split("\n", 1)[0]
            text = signature + (f'\n    """{doc}"""' if doc else "")
            found.append(Definition(node.name, file, text))
    return found


def block(known: Mapping[str, Definition], code: str, limit: int | None = None) -> str:
    """Comment lines with the definitions of the names `code` uses that it does not define itself, in the order of
    their first use, within `limit` characters (MAX_CHARS by default); empty when there are none."""
    limit = MAX_CHARS if limit is None else limit
    defined_here = set(re.findall(r"(?:def|class)\s+([A-Za-z_]\w*)", code))
    parts: list[str] = []
    size = 0
    for name in _first_uses(NAME.findall(code)):
        found = known.get(name)
        if found is None or name in defined_here:
            continue
        part = "\n".join(f"# {line}" if line else "#" for line in [f"{found.file}:", *found.text.split("\n")]) + "\n"
        if size + len(part) > limit:
            break
        parts.append(part)
        size += len(part)
    return "".join(parts)


def _first_uses(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
