"""Combinatorics helpers."""


def factorial(n):
    """Return n! for a non-negative integer n."""
    if n < 0:
        raise ValueError("n must not be negative")
    return n * factorial(n - 1)
