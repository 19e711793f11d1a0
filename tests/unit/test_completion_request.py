"""The `complete` request at a cursor: one line while the user types a line, a short suffix, a stable window."""

from __future__ import annotations

from lsprotocol import types

from freescode_lsp.completion.cursor import cursor_at
from freescode_lsp.completion.task.request import PREFIX_CHARS, SUFFIX_CHARS, completion_request, one_line, stop_rule
from freescode_lsp.text.chunked_text import ChunkedText

ABOVE = "".join(f"def helper_{n:03d}(value):\n    return value * {n}\n\n\n" for n in range(200))
BELOW = "".join(f"print(helper_{n:03d}(1))\n" for n in range(50))


def test_a_line_being_typed_gets_one_line_and_a_blank_line_or_a_block_opener_more() -> None:
    typing = cursor_at(ChunkedText("def f(x):\n    total = compute(x\n", "utf-16"), types.Position(1, 21))
    blank = cursor_at(ChunkedText("def f(x):\n    \n", "utf-16"), types.Position(1, 4))
    opener = cursor_at(ChunkedText("def f(x):\n", "utf-16"), types.Position(0, 9))
    assert [one_line(c) for c in (typing, blank, opener)] == [True, False, False]
    assert completion_request("m", typing, 64).stop == ["\n"]
    assert completion_request("m", blank, 64).stop == []
    assert stop_rule(typing, 8).mid_line and not stop_rule(blank, 8).mid_line


def test_the_suffix_is_the_rest_of_the_line_and_two_more() -> None:
    text = ABOVE + "x = compute(\n" + BELOW
    line = ABOVE.count("\n")
    request = completion_request("m", cursor_at(ChunkedText(text, "utf-16"), types.Position(line, 4)), 64)
    assert request.infill is not None
    assert request.infill.suffix == "compute(\nprint(helper_000(1))\nprint(helper_001(1))"
    assert len(request.infill.suffix) <= SUFFIX_CHARS


def test_the_prefix_is_a_window_whose_start_holds_still_while_typing() -> None:
    line = ABOVE.count("\n")
    starts = set()
    for typed in range(1, 30):
        text = ABOVE + "r" * typed + "\n" + BELOW
        request = completion_request("m", cursor_at(ChunkedText(text, "utf-16"), types.Position(line, typed)), 64)
        assert request.infill is not None and len(request.infill.prefix) <= PREFIX_CHARS
        starts.add(request.infill.prefix.split("\n", 1)[0])
    assert len(starts) == 1
