"""One progress line on a terminal while a model file is assembled or downloaded; nothing when stderr is not a TTY."""

from __future__ import annotations

import sys
from typing import TextIO

from freescode_lsp.models.footprint import human_bytes


class Progress:
    """Bytes done out of a total, redrawn in place on stderr when it is a terminal and the percentage moves."""

    def __init__(self, label: str, total: int, shown: bool = True, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.shown = shown and _is_terminal(self.stream)
        self._percent = -1

    def update(self, done: int) -> None:
        """Redraw the line if the whole percentage changed."""
        percent = min(100, done * 100 // self.total)
        if not self.shown or percent == self._percent:
            return
        self._percent = percent
        line = f"\rfreescode: {self.label}: {percent:3d}% ({human_bytes(done)} of {human_bytes(self.total)})"
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        """End the line, so that later output starts on a fresh one."""
        if self.shown and self._percent >= 0:
            self.stream.write("\n")
            self.stream.flush()
            self._percent = -1


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
