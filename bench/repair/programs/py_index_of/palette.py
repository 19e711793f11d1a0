"""Search helpers for the command palette."""


def index_of(items, wanted):
    """Return the position of the first item equal to wanted, or -1 when absent."""
    for position, item in enumerate(items):
        if item == wanted:
            return position
