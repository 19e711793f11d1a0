"""The `complete` task at a cursor: its request (the window around the cursor, stops, deadline) and its stop rule."""

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
PROMPT_CHARS = 4096  # about 1,000 tokens: what a small model reads fast enough on a CPU between keystrokes
DEADLINE_S = 30.0


def completion_request(model: str, cursor: Cursor, max_tokens: int, language: str = "") -> GenerationRequest:
    """The `complete` task's request: prefix and suffix cut 3:1 to the prompt budget; mid-line, the model stops
    at the line's end."""
    prefix_chars, suffix_chars = window.budgets(PROMPT_CHARS)
    cut = window.cut(cursor.before, cursor.after, prefix_chars, suffix_chars, cursor.origin)
    request = build_request(model, TaskInput(TASK, cut.prefix, language, extra=cut.suffix), max_tokens)
    return evolve(request, stop=["\n"] if cursor.mid_line else [], deadline=time.monotonic() + DEADLINE_S)


def stop_rule(cursor: Cursor, max_lines: int) -> StopRule:
    """The stop rule for a suggestion at this cursor."""
    following = cursor.after.split("\n", 21)[1:21]
    next_line = next((line.strip() for line in following if line.strip()), "")
    return StopRule(cursor.mid_line, indent_width(cursor.indent), max_lines, next_line)
