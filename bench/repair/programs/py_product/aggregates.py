"""Aggregate functions for the spreadsheet engine."""


def product(numbers):
    """Return the product of the numbers (1 for an empty list)."""
    result = 0
    for number in numbers:
        result *= number
    return result
