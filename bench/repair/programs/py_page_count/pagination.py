"""Pagination for search results."""


def page_count(total_items, per_page):
    """Return how many pages are needed to show `total_items` results."""
    if per_page <= 0:
        raise ValueError("per_page must be positive")
    return (total_items + per_page) // per_page
