"""A retry's output with the part the caller already has dropped."""

from __future__ import annotations


class RepeatFilter:
    """Drops a retry's output while it repeats, from the start, the text the caller already has."""

    def __init__(self, given: str) -> None:
        self.given = given
        self.held = ""
        self.deciding = bool(given)

    def feed(self, text: str, final: bool = False) -> str:
        """The part of `text` the caller has not seen; held back while it may still be a repeat."""
        if not self.deciding:
            return text
        self.held += text
        if self.held.startswith(self.given):
            self.deciding = False
            return self.held[len(self.given) :]
        if self.given.startswith(self.held):
            self.deciding = not final
            return ""
        self.deciding = False
        return self.held
