"""Where a line of an earlier version of a document is now, from the changes the editor sent since."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from attrs import define, field
from lsprotocol import types

from freescode_lsp.lsp.features.document_sync import DocumentSubscriber

KEPT_CHANGES = 512


@define(frozen=True)
class LineShift:
    """One change: lines start..end replaced by text holding `inserted` line breaks; it made `version`.

    `whole_end` is true when the range ends at the start of line `end`, so that line itself is only moved.
    """

    version: int
    start: int
    end: int
    inserted: int
    whole_end: bool

    def moved(self, line: int) -> int:
        """Where a line of the text before this change is in the text after it."""
        if line > self.end or (self.whole_end and line == self.end):
            return line + self.inserted - (self.end - self.start)
        if line < self.start:
            return line
        last_new = self.start + self.inserted - (1 if self.whole_end and self.inserted else 0)
        return min(line, last_new)


@define
class DocumentHistory:
    """The recent changes of one document, and the oldest version they reach back to."""

    since: int | None
    shifts: deque[LineShift] = field(factory=lambda: deque(maxlen=KEPT_CHANGES))


@define
class LineHistory(DocumentSubscriber):
    """Recent line shifts of every open document (a document sync subscriber)."""

    documents: dict[str, DocumentHistory] = field(factory=dict)

    def opened(self, uri: str, version: int | None) -> None:
        """A document was opened (or sent whole): no history before this version."""
        self.documents[uri] = DocumentHistory(version)

    def closed(self, uri: str) -> None:
        """Forget a closed document."""
        self.documents.pop(uri, None)

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """Record one didChange; a whole-document change starts the history again."""
        history = self.documents.setdefault(uri, DocumentHistory(None))
        partial = [change for change in changes if isinstance(change, types.TextDocumentContentChangePartial)]
        if len(partial) < len(changes):
            self.opened(uri, version)
            return
        for change in partial:
            if len(history.shifts) == history.shifts.maxlen:
                history.since = history.shifts[0].version
            start, end = change.range.start, change.range.end
            whole_end = end.character == 0 and (end.line > start.line or start.character == 0)
            history.shifts.append(LineShift(version, start.line, end.line, _line_breaks(change.text), whole_end))

    def map_line(self, uri: str, line: int, from_version: int) -> int | None:
        """The line's number now, or None when the history does not reach back to `from_version`."""
        history = self.documents.get(uri)
        if history is None or history.since is None or from_version < history.since:
            return None
        for shift in history.shifts:
            if shift.version > from_version:
                line = shift.moved(line)
        return line


def _line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")
