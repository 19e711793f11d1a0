"""Buffer sizing."""


def next_power_of_two(n):
    """Return the smallest power of two that is at least n (1 for n <= 1)."""
    power = 0
    while power < n:
        power *= 2
    return power
