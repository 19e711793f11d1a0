"""A model's answer to the text for the region it rewrites, or why it cannot be used; patches and pieces told apart."""

from __future__ import annotations

import logging

from attrs import define

from freescode_lsp.edits.answer import answer_lines, blocks, choose, region_statements
from freescode_lsp.edits.lines import common_indent, first_line_end, leading_blanks, rebase, split_lines, trailing_blanks
from freescode_lsp.edits.reading import DEF, header, is_diff, is_elision

MAX_GROWTH = 20
MAX_LINES = 200
log = logging.getLogger("freescode_lsp.edits")


@define(frozen=True)
class CleanResult:
    """The text to put in the region, or None and why the answer cannot be used."""

    text: str | None
    reason: str | None = None
    dropped: tuple[str, ...] = ()


def clean_output(raw: str, original: str, language: str | None = None) -> CleanResult:
    """The code in a model's answer, re-indented and framed like the region it replaces."""
    if not raw.strip():
        return CleanResult(None, "the model returned nothing")
    old = split_lines(original)
    body = answer_lines(split_lines(raw), language, old)
    if not body:
        return CleanResult(None, "the model's answer held no code")
    if len(body) > MAX_LINES and len(body) > MAX_GROWTH * max(len(old), 1):
        reason = f"the model's answer ({len(body)} lines) is far larger than the {len(old)} lines it replaces"
        return CleanResult(None, reason)
    body, dropped = region_statements(body, old)
    if dropped:
        log.warning("dropped top-level lines the region did not have from the model's answer:\n%s", "\n".join(dropped))
    lines = leading_blanks(old) + rebase(body, old) + trailing_blanks(old)
    eol = first_line_end(original)
    return CleanResult(eol.join(lines) + (eol if original.endswith(("\n", "\r")) else ""), None, tuple(dropped))


def is_patch_or_fragment(answer: str, original: str) -> bool:
    """True when the answer is a diff or a piece of the region, not a whole replacement."""
    found = blocks(split_lines(answer))
    lines = choose(found, None, split_lines(original)) if found else split_lines(answer)
    indent = len(common_indent(lines))
    code = [line[indent:] for line in lines if line.strip()]
    if not code:
        return False
    old = [line for line in split_lines(original) if line.strip()]
    if is_diff(code, old):
        return True
    old_stripped = {line.strip() for line in old}
    if any(is_elision(line) and line.strip() not in old_stripped for line in code):
        return True
    region_header = header(old)
    if region_header is None:
        return False
    defs = [m.groups() for m in map(DEF.match, code) if m]
    return region_header not in defs and (not defs or 2 * len(code) < len(old))
