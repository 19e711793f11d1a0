"""Find where to insert a new event in a sorted timeline."""


def insertion_point(times, moment):
    """Return the index where moment goes to keep times sorted (after equal times)."""
    low, high = 0, len(times)
    while low < high:
        middle = (low + high) // 2
        if times[middle] <= moment:
            low = middle
        else:
            high = middle
    return low
