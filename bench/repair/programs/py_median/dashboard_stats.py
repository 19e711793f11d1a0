"""Summary statistics for the dashboard."""


def median(values):
    """Return the median of a non-empty list of numbers without changing the list."""
    if not values:
        raise ValueError("median of an empty list")
    values.sort()
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2
