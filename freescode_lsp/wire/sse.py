"""Server-sent events read from raw bytes with a cap on each line and on the whole stream."""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, AsyncIterable

from attrs import define, field

from freescode_lsp.errors import FreescodeError

_LINE_END = re.compile(rb"\r\n|\r|\n")


class StreamTooLarge(FreescodeError):
    """A line or the whole stream went past its cap; the message says which."""


@define
class Event:
    """One dispatched event: its type (empty for the default "message") and its data."""

    event: str = ""
    data: str = ""


class LineSplitter:
    """Bytes in, whole lines out (without their ends), never holding more than `max_line` bytes of one line."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._partial = bytearray()
        self._after_cr = False

    def feed(self, data: bytes) -> list[bytes]:
        """The lines this data completes; StreamTooLarge when an unfinished line passes the cap."""
        start = 1 if self._after_cr and data[:1] == b"\n" else 0
        self._after_cr = False
        lines = []
        for found in _LINE_END.finditer(data, start):
            self._partial += data[start : found.start()]
            self._check()
            lines.append(bytes(self._partial))
            self._partial.clear()
            start = found.end()
            self._after_cr = found.group() == b"\r" and start == len(data)
        self._partial += data[start:]
        self._check()
        return lines

    def _check(self) -> None:
        if len(self._partial) > self.max_line:
            raise StreamTooLarge(f"a line longer than {self.max_line} bytes")


@define
class EventParser:
    """Lines in, events out, as the SSE spec says (comments skipped; an unfinished last event is dropped)."""

    _event: str = ""
    _data: list[str] = field(factory=list)
    _seen: bool = False

    def line(self, raw: bytes) -> Event | None:
        """Take one line; the event it completes, if any."""
        if not raw:
            if not self._seen:
                return None
            event = Event(self._event, "\n".join(self._data))
            self._event, self._data, self._seen = "", [], False
            return event
        text = raw.decode("utf-8", errors="replace")
        if text.startswith(":"):
            return None
        name, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._seen = True
        elif name == "event":
            self._event = value
            self._seen = True
        return None


async def read_events(chunks: AsyncIterable[bytes], max_line: int, max_total: int) -> AsyncGenerator[Event, None]:
    """The events in a byte stream; StreamTooLarge past `max_line` bytes in a line or `max_total` in all."""
    splitter = LineSplitter(max_line)
    parser = EventParser()
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_total:
            raise StreamTooLarge(f"more than {max_total} bytes")
        for raw in splitter.feed(chunk):
            event = parser.line(raw)
            if event is not None:
                yield event
