"""Booking calendar conflicts."""


def overlap(first, second):
    """Return the overlap of two (start, end) intervals, end exclusive, or None when they do not overlap."""
    start = min(first[0], second[0])
    end = max(first[1], second[1])
    if start >= end:
        return None
    return start, end
