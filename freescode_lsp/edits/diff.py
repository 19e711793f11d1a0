"""Line diffs between a region's old and new lines, and the region mid-stream."""

from __future__ import annotations

import bisect
import difflib
import functools
import re

from attrs import define

_TRIVIAL = {"pass", "else:", "try:", "finally:", "return", "break", "continue", "end", "});"}


@define(frozen=True)
class LineEdit:
    """Replace old lines [start, end) with new_lines; 0-based, relative to the region."""

    start: int
    end: int
    new_lines: list[str]


def line_edits(old_lines: list[str], new_lines: list[str]) -> list[LineEdit]:
    """The changed line ranges from old to new, bottom-up so each applies without shifting the next."""
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    edits = [LineEdit(i1, i2, list(new_lines[j1:j2])) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
    return edits[::-1]


def apply_line_edits(old_lines: list[str], edits: list[LineEdit]) -> list[str]:
    """Old lines with non-overlapping edits applied, bottom-up whatever their order."""
    lines = list(old_lines)
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        lines[edit.start : edit.end] = edit.new_lines
    return lines


def partial_target(old_lines: list[str], done_new_lines: list[str], final: bool = False) -> list[str]:
    """The region mid-stream: final new lines, then old lines a greedy forward match has not consumed."""
    if final:
        return list(done_new_lines)
    return list(done_new_lines) + list(old_lines[_consumed(old_lines, done_new_lines) :])


def _consumed(old_lines: list[str], new_lines: list[str]) -> int:
    """How many old lines the new lines replace, moving only forward."""
    where: dict[str, list[int]] = {}
    for i, line in enumerate(old_lines):
        where.setdefault(line.strip(), []).append(i)
    pos = 0
    for line in new_lines:
        key = line.strip()
        ahead = old_lines[pos].strip() if pos < len(old_lines) else None
        if key == ahead:
            pos += 1
        elif not _trivial(key):
            places = where.get(key, [])
            found = bisect.bisect_left(places, pos)
            if found < len(places):
                pos = places[found] + 1
            elif ahead is not None and not _trivial(ahead) and _similar(ahead, key):
                pos += 1
    return pos


@functools.lru_cache(maxsize=8192)
def _similar(old: str, new: str) -> bool:
    """Whether new reads as an edit of old rather than a line of its own."""
    return difflib.SequenceMatcher(None, old, new).ratio() >= 0.6


def _trivial(key: str) -> bool:
    """A line too common to align on anywhere but the very next old line."""
    return len(key) <= 3 or key in _TRIVIAL or not re.search(r"\w", key)
