"""Request options for the HTTP client."""

DEFAULT_HEADERS = {"Accept": "application/json", "User-Agent": "report-bot/1.0"}


def request_headers(extra, base=DEFAULT_HEADERS):
    """Return the base headers updated with extra; neither dict is changed."""
    headers = base
    headers.update(extra)
    return headers
