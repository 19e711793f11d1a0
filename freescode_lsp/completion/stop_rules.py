"""Where a suggestion ends: with the line when completing mid-line, else with the block, within a line cap."""

from __future__ import annotations

from attrs import define, field

CLOSERS = ("}", ")", "]", "end")


def indent_width(line: str) -> int:
    """Columns of leading whitespace (a tab counts as four)."""
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4))


@define
class StopRule:
    """Fed the model's text as it streams; says when the suggestion is complete and what of it to keep.

    `base` is the indentation of the cursor's line. When the suggestion opens a deeper block, it ends where a
    line comes back to `base` (a closing bracket there is kept); otherwise it ends where a line goes below `base`.
    A line that repeats the first line of code after the cursor ends it too: the model has started over.
    """

    mid_line: bool
    base: int
    max_lines: int
    next_line: str = ""
    text: str = ""
    done: bool = False
    _kept: int = field(default=0, init=False)
    _block: int | None = field(default=None, init=False)

    def feed(self, piece: str) -> bool:
        """Take more text; True once the suggestion is complete (stop generating)."""
        if self.done:
            return True
        self.text += piece
        if self.mid_line:
            end = self.text.find("\n")
            if end >= 0:
                self._finish(end)
            return self.done
        while not self.done:
            end = self.text.find("\n", self._kept)
            if end < 0:
                break
            self._check_line(self._kept, end)
        return self.done

    def _check_line(self, start: int, end: int) -> None:
        """Decide on the complete line text[start:end]: keep it, or end the suggestion before or after it."""
        line = self.text[start:end]
        number = self.text.count("\n", 0, start)
        if number >= self.max_lines:
            self._finish(start - 1 if start else 0)
            return
        if number == 0 or not line.strip():
            self._kept = end + 1
            return
        if self.next_line and line.strip() == self.next_line:
            self._finish(start - 1)
            return
        width = indent_width(line)
        if self._block is None:
            self._block = width
        opened = self._block > self.base
        if width < self.base or (opened and width <= self.base):
            if opened and width == self.base and line.strip().startswith(CLOSERS):
                self._finish(end)
            else:
                self._finish(start - 1)
            return
        self._kept = end + 1

    def _finish(self, end: int) -> None:
        self.text = self.text[: max(end, 0)]
        self.done = True

    def result(self) -> str:
        """The kept text once the stream has ended (a last line without its newline is checked too)."""
        if not self.done and not self.mid_line and self._kept < len(self.text):
            self.feed("\n")
            if not self.done:
                self.text = self.text[:-1]
        lines = self.text.split("\n")
        if len(lines) > self.max_lines:
            self.text = "\n".join(lines[: self.max_lines])
        return self.text
