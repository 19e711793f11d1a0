"""Context lines around a search hit."""


def context_window(lines, index, radius):
    """Return the lines from index - radius to index + radius inclusive, cut at the ends of the list."""
    start = index - radius
    end = index + radius
    return lines[start:end]
