"""Text kept in chunks of bounded size, so that an edit copies the chunks it touches, never the whole text or line.

Each chunk knows its line breaks (\\n, \\r\\n and \\r, as LSP counts them; a \\r\\n is never split between two
chunks), its length in the client's position units and in UTF-8 bytes. A position is found by walking those
totals and reading only the chunks where the walk starts and ends, so a keystroke on a 2 MB line or in a 50 MB
file costs about what it does in a small one.
"""

from __future__ import annotations

import math
import re
import sys
from bisect import bisect_left, bisect_right
from itertools import accumulate

from attrs import frozen

from freescode_lsp.text.code_units import code_points, units

CHUNK_CHARS = 16384
MAX_CHUNK_CHARS = 2 * CHUNK_CHARS
MIN_CHUNK_CHARS = CHUNK_CHARS // 4
NEWLINE = re.compile(r"\r\n|\r|\n")
ENDINGS = ("\r\n", "\n", "\r")
ALONE = {"\r\n": r"\r\n", "\n": r"(?<!\r)\n", "\r": r"\r(?!\n)"}


@frozen
class Spot:
    """A place in the text: its offset in characters, and its LSP position in the client's units."""

    offset: int
    line: int
    character: int


class ChunkedText:
    """A document's text as chunks, with running totals of its size, line breaks and line endings; `copied`
    counts the characters edits have copied, which is what an edit costs."""

    def __init__(self, text: str, encoding: str) -> None:
        self.encoding = encoding
        self.texts: list[str] = []
        self.breaks: list[int] = []
        self.units: list[int] = []
        self.utf8: list[int] = []
        self.length = 0
        self.size_utf8 = 0
        self.line_breaks = 0
        self.endings = dict.fromkeys(ENDINGS, 0)
        self.copied = 0
        self._starts: list[int] | None = None
        self._lines_before: list[int] | None = None
        self._units_through: list[int] | None = None
        self._joined: str | None = None
        self._splice(0, 0, _cut(text))

    def text(self) -> str:
        """The whole text (joined once per change, when asked)."""
        if self._joined is None:
            self._joined = "".join(self.texts)
        return self._joined

    def between(self, start: int, end: int) -> str:
        """The characters [start, end), clamped to the text."""
        start, end = max(start, 0), min(end, self.length)
        if start >= end:
            return ""
        if self._joined is not None:
            return self._joined[start:end]
        first, at = self._chunk_at(start)
        last, until = self._chunk_at(end)
        if first == last:
            return self.texts[first][at:until]
        return "".join([self.texts[first][at:], *self.texts[first + 1 : last], self.texts[last][:until]])

    def line_start(self, line: int) -> int | None:
        """The offset where a line starts; None past the last line."""
        if line <= 0:
            return 0
        if line > self.line_breaks:
            return None
        before = self._lines_before_each()
        index = bisect_left(before, line)
        earlier = before[index - 1] if index else 0
        return self._starts_of_each()[index] + _after_break(self.texts[index], line - earlier)

    def locate(self, line: int, character: int) -> Spot:
        """The place an LSP position names: clamped to the end of its line, and past the last line to the end."""
        line, character = max(line, 0), max(character, 0)
        start = self.line_start(line)
        if start is None:
            line, character = self.line_breaks, sys.maxsize
            start = self.line_start(line) or 0
        offset, used = self._walk(start, character)
        return Spot(offset, line, used)

    def replace(self, start: int, end: int, text: str) -> None:
        """Put `text` in place of the characters [start, end); only the chunks around them are copied."""
        start, end = sorted((min(max(start, 0), self.length), min(max(end, 0), self.length)))
        if not self.texts:
            self.copied += len(text)
            self._splice(0, 0, _cut(text))
            return
        first, at = self._chunk_at(start)
        last, until = self._chunk_at(end)
        joined = self.texts[first][:at] + text + self.texts[last][until:]
        low, high = first, last + 1
        while True:
            if low > 0 and (len(joined) < MIN_CHUNK_CHARS or (joined[:1] == "\n" and self.texts[low - 1][-1:] == "\r")):
                low -= 1
                joined = self.texts[low] + joined
            elif high < len(self.texts) and (
                len(joined) < MIN_CHUNK_CHARS or (joined[-1:] == "\r" and self.texts[high][:1] == "\n")
            ):
                joined += self.texts[high]
                high += 1
            else:
                break
        self.copied += len(joined)
        self._splice(low, high, _cut(joined))

    def usual_ending(self) -> str:
        """The most common line ending (the first seen on a tie), \\n when there is none."""
        most = max(self.endings.values())
        if most == 0:
            return "\n"
        tied = [ending for ending in ENDINGS if self.endings[ending] == most]
        if len(tied) > 1:
            first_of = re.compile("|".join(ALONE[ending] for ending in tied))
            for chunk in self.texts:
                found = first_of.search(chunk)
                if found is not None:
                    return found.group()
        return tied[0]

    def _walk(self, start: int, count: int) -> tuple[int, int]:
        """From `start`, the offset `count` code units further along its line (at most its end), and the units
        walked. Chunks between the first and the one where the line ends hold no line break: they are skipped
        by their running unit totals, so only the chunks at the two ends are read."""
        if not self.texts:
            return 0, 0
        first, at = self._chunk_at(start)
        chunk = self.texts[first]
        found = NEWLINE.search(chunk, at) if self.breaks[first] else None
        if found is not None:
            return self._within(first, at, found.start(), count, 0)
        here = self.units[first] if at == 0 else units(chunk[at:], self.encoding)
        if count <= here:
            return self._within(first, at, len(chunk), count, 0)
        breaks = self._lines_before_each()
        last = min(bisect_right(breaks, breaks[first]), len(self.texts) - 1)
        if last == first:
            return self._starts_of_each()[first] + len(chunk), here
        totals = self._units_through_each()
        target = totals[first] + count - here
        index = bisect_left(totals, target, first + 1, last)
        walked = here + totals[index - 1] - totals[first]
        line_end = NEWLINE.search(self.texts[index]) if index == last else None
        end = line_end.start() if line_end is not None else len(self.texts[index])
        return self._within(index, 0, end, target - totals[index - 1], walked)

    def _within(self, index: int, start: int, end: int, count: int, walked: int) -> tuple[int, int]:
        """The offset `count` code units after `start` in one chunk, at most `end`, and the units walked in all."""
        chunk = self.texts[index]
        if chunk.isascii():
            taken = used = min(count, end - start)
        else:
            taken, used = code_points(chunk[start:end], count, self.encoding)
        return self._starts_of_each()[index] + start + taken, walked + used

    def _chunk_at(self, offset: int) -> tuple[int, int]:
        """The chunk holding an offset (at a boundary, the one starting there) and the offset within it."""
        starts = self._starts_of_each()
        index = min(max(bisect_right(starts, offset) - 1, 0), len(self.texts) - 1)
        return index, offset - starts[index]

    def _starts_of_each(self) -> list[int]:
        """For each chunk, the offset where it starts."""
        if self._starts is None:
            self._starts = [0, *accumulate(map(len, self.texts[:-1]))]
        return self._starts

    def _lines_before_each(self) -> list[int]:
        """For each chunk, the line breaks up to its end."""
        if self._lines_before is None:
            self._lines_before = list(accumulate(self.breaks))
        return self._lines_before

    def _units_through_each(self) -> list[int]:
        """For each chunk, the code units up to its end."""
        if self._units_through is None:
            self._units_through = list(accumulate(self.units))
        return self._units_through

    def _splice(self, low: int, high: int, pieces: list[str]) -> None:
        """Chunks [low, high) replaced by `pieces`, with every total kept."""
        for old in self.texts[low:high]:
            self._count(old, -1)
        self.size_utf8 -= sum(self.utf8[low:high])
        self.units[low:high] = [units(piece, self.encoding) for piece in pieces]
        self.utf8[low:high] = [units(piece, "utf-8") for piece in pieces]
        self.size_utf8 += sum(self.utf8[low : low + len(pieces)])
        breaks = [self._count(piece, 1) for piece in pieces]
        self.breaks[low:high] = breaks
        self.texts[low:high] = pieces
        self._starts = self._lines_before = self._units_through = self._joined = None

    def _count(self, chunk: str, sign: int) -> int:
        """Add (or take away) a chunk's length and line endings to the totals; its line breaks."""
        crlf = chunk.count("\r\n")
        lone_lf = chunk.count("\n") - crlf
        lone_cr = chunk.count("\r") - crlf
        self.endings["\r\n"] += sign * crlf
        self.endings["\n"] += sign * lone_lf
        self.endings["\r"] += sign * lone_cr
        self.length += sign * len(chunk)
        self.line_breaks += sign * (crlf + lone_lf + lone_cr)
        return crlf + lone_lf + lone_cr


def _cut(text: str) -> list[str]:
    """Text as chunks of about CHUNK_CHARS (one chunk up to MAX_CHUNK_CHARS), never inside a \\r\\n."""
    if len(text) <= MAX_CHUNK_CHARS:
        return [text] if text else []
    count = math.ceil(len(text) / CHUNK_CHARS)
    pieces, start = [], 0
    for number in range(1, count):
        end = max(len(text) * number // count, start + 1)
        if text[end - 1] == "\r" and text[end] == "\n":
            end += 1
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return [piece for piece in pieces if piece]


def _after_break(chunk: str, count: int) -> int:
    """The offset just after the chunk's `count`-th line break (it has that many)."""
    if "\r" not in chunk:
        parts = chunk.split("\n", count)
        return sum(map(len, parts[:count])) + count
    at = 0
    for _ in range(count):
        found = NEWLINE.search(chunk, at)
        assert found is not None
        at = found.end()
    return at
