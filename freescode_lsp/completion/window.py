"""The code around the cursor cut to the model's window: more prefix than suffix, at line boundaries.

The prefix starts at a line boundary that moves in steps of a quarter of its budget, not with every
keystroke, so the start of the prompt stays the same while the user types and the model's KV cache of it
is reused.
"""

from __future__ import annotations

from attrs import define

PREFIX_SHARE = 0.75
STEPS_PER_BUDGET = 4


@define(frozen=True)
class Window:
    """The prefix and suffix the model sees, and where the prefix starts in the text before the cursor."""

    prefix: str
    suffix: str
    prefix_start: int = 0


def budgets(total_chars: int, has_suffix: bool = True) -> tuple[int, int]:
    """Characters for the prefix and the suffix: 3:1, or all to the prefix when the model sees no suffix."""
    if not has_suffix:
        return total_chars, 0
    prefix = int(total_chars * PREFIX_SHARE)
    return prefix, total_chars - prefix


def cut(before: str, after: str, prefix_chars: int, suffix_chars: int, origin: int = 0) -> Window:
    """`before` and `after` the cursor cut to their budgets at line boundaries; `before` starts at `origin` in
    the whole text."""
    start = prefix_start(before, prefix_chars, origin)
    return Window(before[start:], cut_suffix(after, suffix_chars), start)


def prefix_start(before: str, budget: int, origin: int = 0) -> int:
    """Where the prefix starts in `before`: the first line start past a limit stepped in the whole text's
    offsets (`before` starts at `origin`), so it moves only now and then."""
    if len(before) <= budget:
        return 0
    step = max(1, budget // STEPS_PER_BUDGET)
    limit = -(-(origin + len(before) - budget) // step) * step - origin
    found = before.find("\n", limit - 1)
    return found + 1 if found >= 0 else limit


def cut_suffix(after: str, budget: int) -> str:
    """The suffix up to the last line end within the budget (a cut line when the cursor's own line is longer)."""
    if len(after) <= budget:
        return after
    end = after.rfind("\n", 0, budget)
    return after[: end + 1] if end >= 0 else after[: max(budget, 0)]
