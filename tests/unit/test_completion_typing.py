"""Typing through a suggestion, the keystroke rhythm that stretches the debounce, and the cursor under
multi-byte characters and CRLF line ends."""

from __future__ import annotations

import pytest
from lsprotocol import types

from freescode_lsp.completion.cursor import cursor_at, in_file_endings
from freescode_lsp.completion.debounce import MAX_WAIT_S, Debounce
from freescode_lsp.completion.typing_through import ShownSuggestions
from freescode_lsp.text.chunked_text import ChunkedText

UTF16 = "utf-16"
UTF8 = "utf-8"


def test_typing_the_start_of_a_suggestion_gives_the_rest() -> None:
    shown = ShownSuggestions()
    shown.remember("a", "x = ", "\n", "math.pi")
    assert shown.rest("a", "x = ", "\n") == "math.pi"
    assert shown.rest("a", "x = ma", "\n") == "th.pi"
    assert shown.rest("a", "x = math.p", "\n") == "i"


def test_anything_else_needs_the_model() -> None:
    shown = ShownSuggestions()
    shown.remember("a", "x = ", "\n", "math.pi")
    assert shown.rest("a", "x = mo", "\n") is None
    assert shown.rest("a", "x = math.pi", "\n") is None
    assert shown.rest("a", "x = ma", "\nchanged") is None
    assert shown.rest("a", "y = ma", "\n") is None
    assert shown.rest("b", "x = ma", "\n") is None
    shown.remember("a", "x = ", "\n", "")
    assert shown.rest("a", "x = ma", "\n") is None


def test_a_slow_typist_waits_the_debounce_and_a_steady_burst_waits_for_the_pause() -> None:
    debounce = Debounce()
    assert debounce.wait(10.0, 0.075) == 0.075
    assert debounce.wait(15.0, 0.075) == 0.075
    waits = [debounce.wait(20.0 + 0.1 * key, 0.075) for key in range(10)]
    assert waits[0] == 0.075
    assert all(wait > 0.1 for wait in waits[2:]) and max(waits) <= MAX_WAIT_S
    assert debounce.wait(30.0, 0.075) == 0.075
    assert Debounce().wait(1.0, 0.0) == 0.0


CRLF = "s = 'é😀' + \r\nnext_line()\r\n"


@pytest.mark.parametrize(("encoding", "column"), [(UTF16, 12), (UTF8, 15)])
def test_the_cursor_after_multi_byte_characters_in_a_crlf_file(encoding: str, column: int) -> None:
    cursor = cursor_at(ChunkedText(CRLF, encoding), types.Position(0, column))
    assert cursor.before == "s = 'é😀' + " and cursor.after == "\nnext_line()\n"
    assert cursor.position == types.Position(0, column)
    assert cursor.newline == "\r\n" and not cursor.mid_line
    assert in_file_endings("a\n    b", cursor.newline) == "a\r\n    b"


def test_a_cursor_inside_a_line_splits_it_by_code_units() -> None:
    cursor = cursor_at(ChunkedText("f('😀', x)\n", UTF16), types.Position(0, 7))
    assert (cursor.line_before, cursor.line_after) == ("f('😀',", " x)")
    assert cursor.mid_line and cursor.position == types.Position(0, 7)


def test_positions_past_the_line_or_the_file_are_clamped() -> None:
    text = ChunkedText("ab\r\ncd", UTF16)
    assert cursor_at(text, types.Position(0, 99)).position == types.Position(0, 2)
    past = cursor_at(text, types.Position(9, 0))
    assert past.position == types.Position(1, 2) and past.before == "ab\ncd" and past.after == ""
    assert cursor_at(ChunkedText("", UTF16), types.Position(0, 0)).before == ""
