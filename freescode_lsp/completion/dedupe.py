"""Suggestions without the text that merely repeats what follows the cursor, and without trailing whitespace."""

from __future__ import annotations


def drop_repeated_tail(suggestion: str, line_after: str, after_lines: list[str]) -> str:
    """The suggestion without its end where that end is what already follows the cursor.

    On the cursor's line: the longest end of the suggestion that starts the rest of the line (`foo(x)` before
    `)` becomes `foo(x`). Over lines: the last lines of the suggestion that equal the lines after the cursor.
    """
    if "\n" not in suggestion:
        rest = line_after.rstrip()
        for size in range(min(len(suggestion), len(rest)), 0, -1):
            if suggestion.endswith(rest[:size]):
                return suggestion[:-size]
        return suggestion
    lines = suggestion.split("\n")
    following = [line.strip() for line in after_lines if line.strip()]
    for size in range(min(len(lines) - 1, len(following)), 0, -1):
        tail = [line.strip() for line in lines[-size:] if line.strip()]
        if tail and tail == following[: len(tail)]:
            return "\n".join(lines[:-size])
    return suggestion


def trim(suggestion: str) -> str:
    """No trailing spaces on any line and no blank lines at the end."""
    lines = [line.rstrip() for line in suggestion.split("\n")]
    return "\n".join(lines).rstrip("\n")


def repeats_next_line(suggestion: str, line_before: str, line_after: str, after_lines: list[str]) -> bool:
    """Whether the cursor's line, finished as the suggestion's first line says, is the next line of code again."""
    following = next((line for line in after_lines if line.strip()), "")
    finished = (line_before + suggestion.split("\n", 1)[0] + line_after).rstrip()
    return bool(finished.strip()) and finished == following.rstrip()


def polish(suggestion: str, after: str, line_before: str = "") -> str:
    """The suggestion as the editor should show it, given all the text `after` the cursor and the cursor's line
    before it; none when it is blank or writes out the next line of code again."""
    line_after, _, rest = after.partition("\n")
    following = rest.split("\n")[:20]
    text = trim(drop_repeated_tail(trim(suggestion), line_after, following))
    if not text.strip() or repeats_next_line(text, line_before, line_after, following):
        return ""
    return text
