"""Typing through a suggestion: the user types its first characters and gets the rest without a model call."""

from __future__ import annotations

from attrs import define
from cachetools import LRUCache

MAX_DOCUMENTS = 64


@define(frozen=True)
class Shown:
    """The last suggestion shown in a document and the text it was made for."""

    before: str
    after: str
    text: str


class ShownSuggestions:
    """The last suggestion per document, for the documents used most recently."""

    def __init__(self) -> None:
        self._shown: LRUCache[str, Shown] = LRUCache(maxsize=MAX_DOCUMENTS)

    def remember(self, uri: str, before: str, after: str, text: str) -> None:
        """Keep what was shown (an empty suggestion forgets the last one)."""
        if text:
            self._shown[uri] = Shown(before, after, text)
        else:
            self._shown.pop(uri, None)

    def rest(self, uri: str, before: str, after: str) -> str | None:
        """The rest of the last suggestion when the text before the cursor is its old text plus the suggestion's
        start and nothing else changed; None when a model call is needed."""
        shown = self._shown.get(uri)
        if shown is None or after != shown.after or not before.startswith(shown.before):
            return None
        typed = before[len(shown.before) :]
        if not shown.text.startswith(typed) or len(typed) >= len(shown.text):
            return None
        return shown.text[len(typed) :]

    def forget(self, uri: str) -> None:
        """Drop the document's suggestion (it was closed)."""
        self._shown.pop(uri, None)
