"""Conversion metrics for the marketing report."""


def conversion_rate(conversions, visits):
    """Return conversions per visit as a percentage rounded to one decimal; 0.0 when there were no visits."""
    rate = conversions / visits * 100
    return round(rate, 1)
