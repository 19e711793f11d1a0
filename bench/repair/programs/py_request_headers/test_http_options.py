from http_options import DEFAULT_HEADERS, request_headers


def test_extra_added():
    headers = request_headers({"X-Id": "1"})
    assert headers["X-Id"] == "1" and headers["Accept"] == "application/json"


def test_defaults_unchanged():
    request_headers({"X-Trace": "on"})
    assert DEFAULT_HEADERS == {"Accept": "application/json", "User-Agent": "report-bot/1.0"}


def test_calls_are_independent():
    request_headers({"X-Once": "1"})
    assert "X-Once" not in request_headers({})


def test_given_base_unchanged():
    base = {"Accept": "text/plain"}
    request_headers({"X-Id": "2"}, base)
    assert base == {"Accept": "text/plain"}
