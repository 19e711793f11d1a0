"""Temperature log analysis."""


def smallest(readings):
    """Return the smallest reading; raise ValueError for an empty list."""
    if not readings:
        raise ValueError("no readings")
    lowest = 0
    for reading in readings:
        if reading < lowest:
            lowest = reading
    return lowest
