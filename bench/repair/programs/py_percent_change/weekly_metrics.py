"""Week-over-week metrics."""


def percent_change(old, new):
    """Return the change from old to new as a percentage of old, e.g. 50 -> 75 is 50.0."""
    if old == 0:
        raise ValueError("old value must not be zero")
    difference = old - new
    return round(difference / new * 100, 2)
