"""Nested list utilities."""


def flatten(nested):
    """Return a flat list of the items in arbitrarily nested lists, in order."""
    result = []
    for item in nested:
        if isinstance(item, list):
            result.extend(flatten(item))
        else:
            result.append(item)
