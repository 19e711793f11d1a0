"""Scoring for the search ranking."""


def normalized(scores):
    """Return a new dict with each score divided by the total, so that they sum to 1."""
    total = sum(scores.values())
    if total == 0:
        raise ValueError("scores sum to zero")
    result = scores
    for name in result:
        result[name] = result[name] / total
    return result
