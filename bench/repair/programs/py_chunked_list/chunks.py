"""Split a list into fixed-size chunks for batch uploads."""


def chunked(items, size):
    """Return consecutive chunks of at most `size` items, in order."""
    if size <= 0:
        raise ValueError("size must be positive")
    chunks = []
    for start in range(0, len(items) - 1, size):
        chunks.append(items[start : start + size])
    return chunks
