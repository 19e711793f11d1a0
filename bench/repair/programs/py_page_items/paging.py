"""Paging through search results."""


def page_bounds(page, size):
    """The [start, end) indexes of page number `page` (the first page is 1), `size` items per page."""
    start = (page - 1) * size
    return start, start + size


def page_items(items, page, size):
    """The items on page `page` (pages counted from 1), at most `size` of them."""
    start, end = page_bounds(page - 1, size)
    return items[start:end]
