"""The `complete` task at a cursor: its request (the code above the cursor, a short suffix, stops, deadline) and
its stop rule.

The prefix is a window of PREFIX_CHARS whose start moves in steps, so it holds still while the user types; the
local engine uses as much of it as its time budget allows. The suffix is short: the rest of the cursor's line and
a few lines after it. In a fill-in-the-middle prompt the suffix comes after the prefix, so every keystroke
evaluates it again; a few lines tell the model where its text ends at a small price.
"""

from __future__ import annotations

import time

from attrs import evolve

from freescode_lsp.completion import window
from freescode_lsp.completion.cursor import Cursor
from freescode_lsp.completion.stop_rules import StopRule, indent_width
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.task_table import task_shown_in
from freescode_lsp.tasks.prompts import TaskInput, build_request

TASK = task_shown_in("inline_completion").id
PREFIX_CHARS = 4096
SUFFIX_LINES = 2
SUFFIX_CHARS = 256
DEADLINE_S = 30.0
BLOCK_OPENERS = (":", "{", "(", "[")


def one_line(cursor: Cursor) -> bool:
    """Whether the suggestion is one line: code follows the cursor on its line, or the user is typing a line that
    opens no block."""
    typed = cursor.line_before.strip()
    return cursor.mid_line or (bool(typed) and not typed.endswith(BLOCK_OPENERS))


def short_suffix(after: str) -> str:
    """The rest of the cursor's line and SUFFIX_LINES lines after it, within SUFFIX_CHARS."""
    kept = "\n".join(after.split("\n", SUFFIX_LINES + 1)[: SUFFIX_LINES + 1])
    return window.cut_suffix(kept, SUFFIX_CHARS)


def prefix_window(cursor: Cursor) -> str:
    """The code above the cursor the prompt may hold: PREFIX_CHARS or less, from a start that moves in steps."""
    return cursor.before[window.prefix_start(cursor.before, PREFIX_CHARS, cursor.origin) :]


def completion_request(model: str, cursor: Cursor, max_tokens: int, language: str = "", context: str = "") -> GenerationRequest:
    """The `complete` task's request: `context` (code from elsewhere, as comments), the window above the cursor and
    a short suffix; one line stops at its end."""
    item = TaskInput(TASK, context + prefix_window(cursor), language, extra=short_suffix(cursor.after))
    request = build_request(model, item, max_tokens)
    return evolve(request, stop=["\n"] if one_line(cursor) else [], deadline=time.monotonic() + DEADLINE_S)


def stop_rule(cursor: Cursor, max_lines: int) -> StopRule:
    """The stop rule for a suggestion at this cursor."""
    following = cursor.after.split("\n", 21)[1:21]
    next_line = next((line.strip() for line in following if line.strip()), "")
    return StopRule(one_line(cursor), indent_width(cursor.indent), max_lines, next_line)
