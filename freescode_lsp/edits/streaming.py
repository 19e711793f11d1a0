"""A model's answer cleaned while it streams: the region's final lines early, the exact text at the end."""

from __future__ import annotations

from freescode_lsp.edits.answer import answer_lines, region_statements
from freescode_lsp.edits.cleanup import CleanResult, clean_output
from freescode_lsp.edits.lines import leading_blanks, rebase, split_lines
from freescode_lsp.edits.reading import header, header_line


class StreamingRewrite:
    """A model's answer cleaned while it streams: final lines early, the exact text at the end."""

    def __init__(self, original: str, language: str | None = None) -> None:
        """Start a rewrite of the region whose current text is original."""
        self._original = original
        self._language = language
        self._old = split_lines(original)
        self._pieces: list[str] = []
        self._done_len = -1
        self._done_lines: list[str] = []
        self.result: CleanResult | None = None

    @property
    def text(self) -> str:
        """Everything fed so far."""
        if len(self._pieces) > 1:
            self._pieces = ["".join(self._pieces)]
        return self._pieces[0] if self._pieces else ""

    def feed(self, piece: str) -> None:
        """Take the next piece of the model's answer."""
        self._pieces.append(piece)

    def complete_lines(self) -> list[str]:
        """Cleaned lines of the region that the answer so far makes final (held back when unsure)."""
        text = self.text
        done_len = max(text.rfind("\n"), text.rfind("\r")) + 1
        if done_len != self._done_len:
            self._done_len = done_len
            body = answer_lines(split_lines(text[:done_len]), self._language, self._old)
            region_header = header(self._old)
            unseen = region_header is not None and header_line(body, region_header) is None
            body = [] if unseen else region_statements(body, self._old)[0]
            self._done_lines = leading_blanks(self._old) + rebase(body, self._old) if body else []
        return list(self._done_lines)

    def finish(self) -> str:
        """The final text, clean_output of the whole answer; the original text if unusable (see result)."""
        self.result = clean_output(self.text, self._original, self._language)
        return self._original if self.result.text is None else self.result.text
