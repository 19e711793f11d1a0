"""Smooth a series of sensor readings."""


def moving_average(values, window):
    """Return the mean of every run of `window` consecutive values."""
    if window < 1:
        raise ValueError("window must be at least 1")
    averages = []
    for start in range(len(values) - window):
        chunk = values[start : start + window]
        averages.append(sum(chunk) / window)
    return averages
