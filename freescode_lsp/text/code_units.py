"""Text measured in the client's position units (UTF-16 by default, UTF-8 or UTF-32 when negotiated), at C speed.

pygls counts code units one character at a time in Python, which takes about a second on a 2 MB line. Here the
counts come from the codecs, and a position inside a character is rounded up past it, as pygls does.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition, UnitCounter

UTF8 = types.PositionEncodingKind.Utf8.value
UTF32 = types.PositionEncodingKind.Utf32.value
SURROGATE = re.compile("[\ud800-\udfff]")


def encoding_name(encoding: object) -> str:
    """An encoding as its plain name ("utf-16"), whether given as a PositionEncodingKind, a string or None."""
    value = getattr(encoding, "value", encoding)
    return str(value) if value else str(types.PositionEncodingKind.Utf16.value)


def units(text: str, encoding: str) -> int:
    """The length of `text` in the encoding's code units (a lone surrogate counts as one character)."""
    if text.isascii() or encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def code_points(text: str, count: int, encoding: str) -> tuple[int, int]:
    """How many characters of `text` the first `count` code units cover, and their units: a count that ends
    inside a character takes the whole character; a count past the end stops at the end."""
    count = max(count, 0)
    if text.isascii() or encoding == UTF32:
        taken = min(count, len(text))
        return taken, taken
    if encoding == UTF8:
        codec, width = "utf-8", 1
    elif SURROGATE.search(text) is None:
        codec, width = "utf-16-le", 2
    else:
        return _one_by_one(text, count)
    data = text.encode(codec, "surrogatepass")
    if count * width >= len(data):
        return len(text), len(data) // width
    decoder = codecs.getincrementaldecoder(codec)("surrogatepass")
    whole = decoder.decode(data[: count * width], final=False)
    pending = len(decoder.getstate()[0])
    if not pending:
        return len(whole), count
    rest = len(text[len(whole)].encode(codec, "surrogatepass")) - pending
    return len(whole) + 1, count + rest // width


def _one_by_one(text: str, count: int) -> tuple[int, int]:
    """UTF-16 for text holding lone surrogates, which the codec would pair up: one character at a time."""
    taken = used = 0
    for char in text:
        if used >= count:
            break
        used += 2 if ord(char) > 0xFFFF else 1
        taken += 1
    return taken, used


class FastUnits(UnitCounter):
    """pygls' unit counter for one encoding, counting with the codecs."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding

    def code_units_for_char(self, char: str) -> int:
        """The character's length in code units."""
        return units(char, self.encoding)

    def num_units(self, chars: str) -> int:
        """The text's length in code units."""
        return units(chars, self.encoding)

    def column_from_utf32(self, line: str, column: int) -> int:
        """The code units before character `column` of the line."""
        return units(line[:column], self.encoding)


class FastPositionCodec(PositionCodec):
    """pygls' position codec counting with the codecs; a position past the end of a line is the line's end."""

    def __init__(self, encoding: str | None = types.PositionEncodingKind.Utf16) -> None:
        super().__init__(encoding)
        self.name = encoding_name(encoding)
        self.impl = FastUnits(self.name)

    def position_from_client_units(self, lines: Sequence[str], position: types.Position) -> ServerTextPosition:
        """The position with `character` in characters, clamped to the line's text (its terminator left out)."""
        if not lines:
            return ServerTextPosition(0, 0)
        if position.line >= len(lines):
            last = len(lines) - 1
            return ServerTextPosition(last, len(_without_ending(lines[last])))
        text = _without_ending(lines[position.line])
        return ServerTextPosition(position.line, code_points(text, position.character, self.name)[0])


def fast_codec(codec: PositionCodec) -> FastPositionCodec:
    """A fast codec for the same encoding."""
    return codec if isinstance(codec, FastPositionCodec) else FastPositionCodec(codec.encoding)


def _without_ending(line: str) -> str:
    """The line without its terminator."""
    if line.endswith("\r\n"):
        return line[:-2]
    return line[:-1] if line.endswith(("\n", "\r")) else line
