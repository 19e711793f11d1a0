"""The text around the cursor, with LSP's positions (UTF-16 by default) and CRLF files handled once, here.

Only a window around the cursor is read: BEFORE_CHARS before it and AFTER_CHARS after it, more than the prompt
holds. So a suggestion in a 2 MB line or a 50 MB file reads what it reads in a small file. The window starts at a
place that moves in steps of WINDOW_STEP_CHARS, so that while the user types it holds still: the prompt's start
stays put (and the model's cache of it), and the text before the cursor can be compared with the last one.
"""

from __future__ import annotations

from attrs import define
from lsprotocol import types

from freescode_lsp.text.chunked_text import ChunkedText

BEFORE_CHARS = 8192
AFTER_CHARS = 4096
WINDOW_STEP_CHARS = 2048
INDENT_CHARS = 256


@define(frozen=True)
class Cursor:
    """The text before and after the cursor (a window of it) with `\\n` line ends, where that window starts in
    the document, the cursor line's indentation, and the file's line ending."""

    before: str
    after: str
    indent: str
    newline: str
    position: types.Position
    origin: int = 0

    @property
    def line_before(self) -> str:
        """The cursor's line up to the cursor (within the window)."""
        return self.before[self.before.rfind("\n") + 1 :]

    @property
    def line_after(self) -> str:
        """The cursor's line from the cursor on (within the window)."""
        return self.after.partition("\n")[0]

    @property
    def mid_line(self) -> bool:
        """Whether code follows the cursor on its line: then a suggestion ends with the line."""
        return bool(self.line_after.strip())


def cursor_at(text: ChunkedText, position: types.Position) -> Cursor:
    """The cursor at an LSP position, clamped into the document (past the end: the end)."""
    spot = text.locate(position.line, position.character)
    origin = max(0, (spot.offset - BEFORE_CHARS) // WINDOW_STEP_CHARS * WINDOW_STEP_CHARS)
    line_start = text.line_start(spot.line) or 0
    head = text.between(line_start, min(line_start + INDENT_CHARS, spot.offset))
    return Cursor(
        before=_plain(text.between(origin, spot.offset)),
        after=_plain(text.between(spot.offset, spot.offset + AFTER_CHARS)),
        indent=head[: len(head) - len(head.lstrip())],
        newline=text.usual_ending(),
        position=types.Position(spot.line, spot.character),
        origin=origin,
    )


def _plain(text: str) -> str:
    """Text with every line ending as `\\n`."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def in_file_endings(text: str, newline: str) -> str:
    """A suggestion written with `\\n` put in the file's own line endings."""
    return text if newline == "\n" else text.replace("\n", newline)
