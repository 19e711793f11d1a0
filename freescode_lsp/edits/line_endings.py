"""A rewritten region put back with each line's own ending: kept lines keep theirs, new lines take the usual one."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence

from freescode_lsp.edits import split_lines


def ending_of(line: str) -> str:
    """The line's terminator: \\r\\n, \\n, \\r or nothing."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\n", "\r")):
        return line[-1]
    return ""


def usual_ending(lines: Sequence[str]) -> str:
    """The most common terminator among the lines (the first seen on a tie), \\n when none has one."""
    counts = Counter(ending for ending in map(ending_of, lines) if ending)
    return counts.most_common(1)[0][0] if counts else "\n"


def keep_line_endings(old_lines: Sequence[str], new_region: str, usual: str | None = None) -> str:
    """The new region's lines, each ending as the old line it matches did, else with the usual ending.

    The region ends with a terminator exactly when the old one did (a file without a final newline keeps none).
    """
    if not old_lines:
        return new_region
    usual = usual or usual_ending(old_lines)
    old = [line.removesuffix(ending_of(line)) for line in old_lines]
    new = split_lines(new_region)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.extend((old[i], ending_of(old_lines[i])) for i in range(i1, i2))
        else:
            pieces.extend((line, "") for line in new[j1:j2])
    last_ending = ending_of(old_lines[-1])
    out = []
    for index, (text, ending) in enumerate(pieces):
        final = index == len(pieces) - 1
        out.append(text + ((ending or usual) if not final else (ending or usual) if last_ending else ""))
    return "".join(out)
