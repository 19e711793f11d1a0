"""Retry timing."""


def backoff_seconds(attempt):
    """Seconds to wait before retry number `attempt`, counted from 1: 1, 2, 4, 8, ..."""
    if attempt < 1:
        raise ValueError("retries are counted from 1")
    return 2 ** (attempt - 1)


def total_wait(retries):
    """Seconds spent waiting over the first `retries` retries."""
    waited = 0
    for number in range(retries):
        waited += backoff_seconds(number)
    return waited
