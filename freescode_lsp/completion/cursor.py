"""The text around the cursor, with LSP's positions (UTF-16 by default) and CRLF files handled once, here."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import define
from lsprotocol import types
from pygls.workspace import PositionCodec

from freescode_lsp.line_endings import ending_of, usual_ending


@define(frozen=True)
class Cursor:
    """Everything before and after the cursor with `\\n` line ends, the cursor's own line, and the file's ending."""

    before: str
    after: str
    line_before: str
    line_after: str
    newline: str
    position: types.Position

    @property
    def mid_line(self) -> bool:
        """Whether code follows the cursor on its line: then a suggestion ends with the line."""
        return bool(self.line_after.strip())

    @property
    def indent(self) -> str:
        """The leading whitespace of the cursor's line."""
        return self.line_before[: len(self.line_before) - len(self.line_before.lstrip())]


def cursor_at(lines: Sequence[str], position: types.Position, codec: PositionCodec) -> Cursor:
    """The cursor at an LSP position, clamped into the document (past the end: the end)."""
    if not lines:
        return Cursor("", "", "", "", "\n", types.Position(0, 0))
    line = min(max(position.line, 0), len(lines) - 1)
    raw = lines[line]
    text = raw[: len(raw) - len(ending_of(raw))]
    if position.line >= len(lines) or position.character >= codec.client_num_units(text):
        column = len(text)
    else:
        found = codec.position_from_client_units([text], types.Position(0, max(position.character, 0)))
        column = min(found.character, len(text))
    client = types.Position(line, codec.client_num_units(text[:column]))
    before = _plain("".join(lines[:line])) + text[:column]
    after = text[column:] + ("\n" if ending_of(raw) else "") + _plain("".join(lines[line + 1 :]))
    return Cursor(before, after, text[:column], text[column:], usual_ending(lines), client)


def _plain(text: str) -> str:
    """Text with every line ending as `\\n`."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def in_file_endings(text: str, newline: str) -> str:
    """A suggestion written with `\\n` put in the file's own line endings."""
    return text if newline == "\n" else text.replace("\n", newline)
