"""Contact import from a CSV export."""


def split_name(full_name):
    """Return (first, last) from 'First Middle Last'; last is '' for a single name."""
    parts = full_name.split()
    if not parts:
        raise ValueError("empty name")
    first = parts[-1]
    last = parts[0] if len(parts) > 1 else ""
    return first, last
