"""Calendar helpers."""


def is_leap_year(year):
    """Return True for leap years in the Gregorian calendar."""
    if year % 400 == 0:
        return True
    return year % 4 == 0 and year % 100 == 0
