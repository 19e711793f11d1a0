"""Keep slider values inside their allowed range."""


def clamp(value, low, high):
    """Return value limited to the closed interval [low, high]."""
    if low > high:
        raise ValueError("low must not exceed high")
    if value < low:
        return low
    if value < high:
        return high
    return value
