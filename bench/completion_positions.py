"""Where the file benchmark asks for suggestions: lines the user is typing (the rest of the line not there yet),
chosen with a seed, and how close a suggestion came to what the file had."""

from __future__ import annotations

import ast
import difflib
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

MIN_LINE_CHARS = 8
PROJECT_FILE = Path(__file__).resolve().parent.parent / "freescode_lsp" / "routing" / "router.py"
STDLIB_FILES = ("json/decoder.py", "textwrap.py", "argparse.py")


@dataclass(frozen=True)
class Position:
    """A line cut at `column`: the text before stays, `expected` (the rest of the line) is what the user would type."""

    line: int
    column: int
    expected: str


def default_files() -> list[Path]:
    """Standard-library modules of the running Python and this project's router, read where they are."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / name for name in STDLIB_FILES] + [PROJECT_FILE]


def imported_sources(path: Path) -> list[Path]:
    """The files of this project and of the standard library that a Python file imports from."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    roots = (PROJECT_FILE.parent.parent.parent, Path(sysconfig.get_paths()["stdlib"]))
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
    found = []
    for module in dict.fromkeys(modules):
        relative = Path(*module.split("."))
        for root in roots:
            for candidate in (root / relative.with_suffix(".py"), root / relative / "__init__.py"):
                if candidate.is_file() and candidate != path and candidate not in found:
                    found.append(candidate)
    return found


def positions(text: str, count: int, seed: int) -> list[Position]:
    """`count` lines of code cut somewhere after their first character and before their last two, top to bottom."""
    lines = text.split("\n")
    usable = [n for n, line in enumerate(lines) if len(line.strip()) >= MIN_LINE_CHARS and not line.strip().startswith("#")]
    rng = random.Random(seed)
    chosen = sorted(rng.sample(usable, min(count, len(usable))))
    found = []
    for number in chosen:
        line = lines[number]
        indent = len(line) - len(line.lstrip())
        column = rng.randint(indent + 1, len(line) - 2)
        found.append(Position(number, column, line[column:]))
    return found


def first_line(text: str) -> str:
    """A suggestion's first line without trailing spaces."""
    return text.split("\n", 1)[0].rstrip()


def exact(suggestion: str, expected: str) -> bool:
    """Whether the suggestion's first line is what the file had."""
    return bool(suggestion.strip()) and first_line(suggestion) == expected.rstrip()


def similarity(suggestion: str, expected: str) -> float:
    """Characters in common between the first line and what the file had (difflib's ratio, 0 to 1)."""
    return difflib.SequenceMatcher(None, first_line(suggestion), expected.rstrip()).ratio()


def common_prefix(suggestion: str, expected: str) -> int:
    """Characters the suggestion gets right before its first mistake."""
    size = 0
    for got, wanted in zip(first_line(suggestion), expected.rstrip(), strict=False):
        if got != wanted:
            break
        size += 1
    return size
