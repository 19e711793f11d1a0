"""The code in a model's answer: the fenced block that rewrites the region, or the code between prose."""

from __future__ import annotations

import re

from attrs import define, field

from freescode_lsp.edits.lines import strip_blank
from freescode_lsp.edits.reading import COMMENT, DEF, header, header_line, is_diff, is_prose, string_state

_FENCE_OPEN = re.compile(r"^\s*(`{3,})\s*([^`\s]*)[^`]*$")
_FENCE_CLOSE = re.compile(r"^\s*(`{3,})\s*$")
_CONTINUES = re.compile(r"^\s*(?:[\])}]+[;,)]*\s*$|(?:else|elif|except|finally|end|fi|done|esac)\b)")
_TAGS = {
    "python": {"python", "py", "python3", "py3"},
    "javascript": {"javascript", "js", "jsx", "node", "mjs"},
    "javascriptreact": {"javascript", "js", "jsx"},
    "typescript": {"typescript", "ts", "tsx"},
    "typescriptreact": {"typescript", "ts", "tsx"},
    "rust": {"rust", "rs"},
    "cpp": {"cpp", "c++", "cc", "cxx", "hpp"},
    "csharp": {"csharp", "cs", "c#"},
    "go": {"go", "golang"},
    "shellscript": {"sh", "bash", "shell", "zsh"},
}


@define
class Block:
    """One fenced block of a model's answer."""

    tag: str
    lines: list[str] = field(factory=list)
    implicit: bool = False


def answer_lines(lines: list[str], language: str | None, old: list[str] | None = None) -> list[str]:
    """The code lines of an answer: the chosen fenced block, or the code between prose."""
    found = blocks(lines)
    body = choose(found, language, old or []) if found else unfenced_code(lines)
    return strip_blank(body)


def region_statements(body: list[str], old: list[str]) -> tuple[list[str], list[str]]:
    """The answer without top-level statements a region of definitions did not have, and the lines dropped.

    Only for an answer that rewrites a region starting with a definition (it has that definition): there, a
    line at the definition's level must start a definition (or a decorator or comment before one) or be a
    line of the region itself; the lines of any other statement are dropped.
    """
    at = header_line(body, header(old))
    code = [line.strip() for line in body if line.strip()]
    if at is None or is_diff(code, [line.strip() for line in old if line.strip()]):
        return body, []
    known = {line.strip() for line in old}
    top = len(body[at]) - len(body[at].lstrip(" \t"))
    kept: list[str] = []
    dropped: list[str] = []
    keep = True
    inside: str | None = None
    for line in body:
        text = line.strip()
        if inside is None and text and len(line) - len(line.lstrip(" \t")) <= top and not _CONTINUES.match(line):
            keep = bool(DEF.match(line)) or text.startswith(("@", "#[")) or bool(COMMENT.match(line)) or text in known
        (kept if keep else dropped).append(line)
        inside = string_state(line, inside)
    return strip_blank(kept), [line for line in dropped if line.strip()]


def blocks(lines: list[str]) -> list[Block]:
    """Fenced blocks; an unclosed last one counts, and a bare fence after code closes that code."""
    found: list[Block] = []
    marker: str | None = None
    for i, line in enumerate(lines):
        if marker is not None:
            close = _FENCE_CLOSE.match(line)
            if close and len(close.group(1)) >= len(marker):
                marker = None
            else:
                found[-1].lines.append(line)
            continue
        fence = _FENCE_OPEN.match(line)
        if fence is None:
            continue
        before = [] if found or fence.group(2) else unfenced_code(lines[:i])
        if before:
            found.append(Block("", before, implicit=True))
            continue
        marker = fence.group(1)
        found.append(Block(fence.group(2).lower()))
    return found


def choose(found: list[Block], language: str | None, old: list[str]) -> list[str]:
    """The code the answer began with, else of the blocks tagged with the language (or all) the one that
    rewrites the region (its definition, nothing the region did not have), else the largest."""
    if found[0].implicit:
        return found[0].lines
    wanted = _TAGS.get(language.lower(), {language.lower()}) if language else set()
    pool = [b for b in found if b.tag in wanted] or found
    region_header = header(old)
    if region_header is not None:
        pool = [b for b in pool if header_line(b.lines, region_header) is not None] or pool
    best = pool[0]
    for block in pool[1:]:
        if _rank(block.lines, old) >= _rank(best.lines, old):
            best = block
    return best.lines


def _rank(lines: list[str], old: list[str]) -> tuple[int, int]:
    """Fewer lines the region did not have first, then more code."""
    return -len(region_statements(lines, old)[1]), _size(lines)


def _size(lines: list[str]) -> int:
    """Non-blank lines."""
    return sum(1 for line in lines if line.strip())


def unfenced_code(lines: list[str]) -> list[str]:
    """Lines from the first line of code up to the prose that follows it."""
    code: list[str] = []
    inside: str | None = None
    for line in lines:
        if inside is None and is_prose(line):
            if code:
                break
        elif code or line.strip():
            code.append(line)
        inside = string_state(line, inside)
    return code
