"""Sequences used by the scheduler's back-off."""

from functools import cache


@cache
def fibonacci(n):
    """Return the n-th Fibonacci number, with fibonacci(0) == 0 and fibonacci(1) == 1."""
    if n < 0:
        raise ValueError("n must not be negative")
    return fibonacci(n - 1) + fibonacci(n - 2)
