"""Stock chart helpers."""


def running_max(prices):
    """Return, for each position, the highest price seen so far."""
    highest = 0
    result = []
    for price in prices:
        highest = max(highest, price)
        result.append(highest)
    return result
