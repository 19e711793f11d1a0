"""The window around the cursor: 3:1 prefix to suffix, line boundaries, a start that holds still while typing."""

from __future__ import annotations

from lsprotocol import types

from freescode_lsp.completion import window
from freescode_lsp.completion.cursor import BEFORE_CHARS, WINDOW_STEP_CHARS, cursor_at
from freescode_lsp.completion.typing_through import ShownSuggestions
from freescode_lsp.text.chunked_text import ChunkedText

BEFORE = "".join(f"line number {n:03d}\n" for n in range(100)) + "    value = "
AFTER = ")\n" + "".join(f"after number {n:03d}\n" for n in range(100))


def test_short_text_is_kept_whole() -> None:
    cut = window.cut("a = 1\nb = ", "\nc = 3\n", 100, 100)
    assert (cut.prefix, cut.suffix, cut.prefix_start) == ("a = 1\nb = ", "\nc = 3\n", 0)


def test_the_budget_goes_three_to_one_or_all_to_the_prefix() -> None:
    assert window.budgets(4000) == (3000, 1000)
    assert window.budgets(4000, has_suffix=False) == (4000, 0)


def test_prefix_and_suffix_are_cut_at_line_boundaries_within_budget() -> None:
    cut = window.cut(BEFORE, AFTER, 300, 100)
    assert len(cut.prefix) <= 300 and cut.prefix.startswith("line number ") and cut.prefix.endswith("    value = ")
    assert BEFORE[cut.prefix_start - 1] == "\n"
    assert len(cut.suffix) <= 100 and cut.suffix.startswith(")\n") and cut.suffix.endswith("\n")
    assert AFTER.startswith(cut.suffix)


def test_the_prefix_start_holds_still_while_the_user_types() -> None:
    starts = {window.cut(BEFORE + "x" * typed, AFTER, 300, 100).prefix_start for typed in range(40)}
    assert len(starts) <= 3
    cuts = [window.cut(BEFORE + "x" * typed, AFTER, 300, 100) for typed in range(40)]
    assert all(len(cut.prefix) <= 300 for cut in cuts)
    assert all(len(cut.prefix) >= 300 - 300 // window.STEPS_PER_BUDGET - 20 for cut in cuts)


def test_one_line_longer_than_the_budget_is_cut_inside_it() -> None:
    long_line = "x" * 1000
    cut = window.cut(long_line, long_line, 300, 100)
    assert len(cut.prefix) <= 300 and cut.prefix == long_line[cut.prefix_start :]
    assert cut.suffix == "x" * 100


def test_in_a_long_file_the_cursor_reads_a_window_whose_prompt_start_holds_still() -> None:
    """The cursor reads a window of the text (not all of it), and while the user types, the prompt's start in the
    file moves only now and then, and typing the start of a suggestion still finds it."""
    long_file = "".join(f"value_{n} = compute({n})\n" for n in range(20_000)) + "total = "
    starts, shown = set(), ShownSuggestions()
    for typed in range(40):
        text = ChunkedText(long_file + "x" * typed, "utf-16")
        cursor = cursor_at(text, types.Position(20_000, 8 + typed))
        assert len(cursor.before) <= BEFORE_CHARS + WINDOW_STEP_CHARS and cursor.after == ""
        assert (long_file + "x" * typed).endswith(cursor.before)
        cut = window.cut(cursor.before, cursor.after, 3000, 1000, cursor.origin)
        assert len(cut.prefix) <= 3000 and cut.prefix.startswith("value_")
        starts.add(cursor.origin + cut.prefix_start)
        if typed == 0:
            shown.remember("a", cursor.before, cursor.after, "x" * 50)
        else:
            assert shown.rest("a", cursor.before, cursor.after) == "x" * (50 - typed)
    assert len(starts) <= 2
