"""Mapping lines of an earlier document version to where that code is now."""

from __future__ import annotations

from lsprotocol import types

from freescode_lsp.lsp.features.line_history import KEPT_CHANGES, LineHistory

URI = "file:///project/shapes.py"


def edit(start: int, end: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(types.Position(start, 0), types.Position(end, 0)), text=text)


def test_lines_follow_insertions_and_deletions_above_them() -> None:
    history = LineHistory()
    history.opened(URI, 1)
    history.changed(URI, 2, [edit(0, 0, "# one\n# two\n# three\n")])
    assert history.map_line(URI, 5, 1) == 8
    history.changed(URI, 3, [edit(1, 3, "")])
    assert history.map_line(URI, 5, 1) == 6
    assert history.map_line(URI, 5, 2) == 3
    assert history.map_line(URI, 5, 3) == 5


def test_changes_below_leave_a_line_alone_and_changes_over_it_keep_it_in_the_new_text() -> None:
    history = LineHistory()
    history.opened(URI, 0)
    history.changed(URI, 7, [edit(20, 22, "x\n" * 10), edit(3, 6, "one line\n")])
    assert history.map_line(URI, 2, 0) == 2
    assert history.map_line(URI, 3, 0) == 3
    assert history.map_line(URI, 4, 0) == 3
    assert history.map_line(URI, 5, 0) == 3
    assert history.map_line(URI, 6, 0) == 4
    assert history.map_line(URI, 30, 0) == 30 + 8 - 2


def test_typing_inside_a_line_keeps_it() -> None:
    history = LineHistory()
    history.opened(URI, 1)
    inside = types.Range(types.Position(4, 3), types.Position(4, 3))
    history.changed(URI, 2, [types.TextDocumentContentChangePartial(range=inside, text="typed")])
    assert [history.map_line(URI, line, 1) for line in (3, 4, 5)] == [3, 4, 5]
    split = types.Range(types.Position(4, 3), types.Position(4, 3))
    history.changed(URI, 3, [types.TextDocumentContentChangePartial(range=split, text="\n")])
    assert [history.map_line(URI, line, 1) for line in (3, 4, 5)] == [3, 4, 6]


def test_crlf_and_cr_count_as_one_line_break_each() -> None:
    history = LineHistory()
    history.opened(URI, 1)
    history.changed(URI, 2, [edit(0, 0, "a\r\nb\rc\n")])
    assert history.map_line(URI, 4, 1) == 7


def test_unknown_history_gives_no_answer() -> None:
    history = LineHistory()
    assert history.map_line(URI, 3, 1) is None
    history.opened(URI, 5)
    assert history.map_line(URI, 3, 4) is None
    history.changed(URI, 6, [types.TextDocumentContentChangeWholeDocument(text="new\n")])
    assert history.map_line(URI, 3, 5) is None
    assert history.map_line(URI, 3, 6) == 3
    history.closed(URI)
    assert history.map_line(URI, 3, 6) is None


def test_only_the_newest_changes_are_kept() -> None:
    history = LineHistory()
    history.opened(URI, 0)
    for version in range(1, KEPT_CHANGES + 11):
        history.changed(URI, version, [edit(0, 0, "\n")])
    assert history.map_line(URI, 0, 5) is None
    assert history.map_line(URI, 0, 10) == KEPT_CHANGES
