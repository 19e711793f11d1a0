"""Checksums for account numbers."""


def digit_sum(number):
    """Return the sum of the decimal digits of a non-negative integer."""
    if number < 0:
        raise ValueError("number must not be negative")
    total = 0
    while number > 0:
        total += number % 10
        number %= 10
    return total
