"""Show the end of a log file."""


def tail(lines, count):
    """Return the last `count` lines (all of them when there are fewer)."""
    if count <= 0:
        return []
    start = max(len(lines) - count - 1, 0)
    return lines[start:]
