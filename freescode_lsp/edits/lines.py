"""Text as lines (split only where LSP splits) and the shape of a block of lines: blanks and indentation."""

from __future__ import annotations

import os
import re

NEWLINE = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def lines_with_ends(text: str) -> list[str]:
    """Lines with their terminators, split only on \\r\\n, \\r and \\n (not at form feeds or U+2028)."""
    return _LINE_WITH_END.findall(text)


def split_lines(text: str) -> list[str]:
    """Lines without terminators, split only on \\r\\n, \\r and \\n as LSP and Python do."""
    lines = NEWLINE.split(text)
    if lines[-1] == "":
        lines.pop()
    return lines


def first_line_end(text: str) -> str:
    """The text's first line terminator, or \\n."""
    match = NEWLINE.search(text)
    return match.group() if match else "\n"


def strip_blank(lines: list[str]) -> list[str]:
    """Lines without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def leading_blanks(lines: list[str]) -> list[str]:
    """The blank lines the region starts with."""
    code = [i for i, line in enumerate(lines) if line.strip()]
    return lines[: code[0]] if code else list(lines)


def trailing_blanks(lines: list[str]) -> list[str]:
    """The blank lines the region ends with, after its code."""
    code = [i for i, line in enumerate(lines) if line.strip()]
    return lines[code[-1] + 1 :] if code else []


def common_indent(lines: list[str]) -> str:
    """The whitespace every non-blank line starts with."""
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    return os.path.commonprefix(indents) if indents else ""


def rebase(body: list[str], old: list[str]) -> list[str]:
    """Body shifted so its common indent is the region's common indent."""
    want, have = common_indent(old), common_indent(body)
    if want == have:
        return list(body)
    return [want + line[len(have) :] if line.strip() else "" for line in body]
