from server_env import parse_port


def test_number():
    assert parse_port("8000") == 8000


def test_spaces():
    assert parse_port(" 443 ") == 443


def test_empty():
    assert parse_port("") == 8080


def test_out_of_range():
    assert parse_port("70000") == 8080


def test_not_a_number():
    assert parse_port("http") == 8080


def test_not_an_integer():
    assert parse_port("80.5", default=1) == 1
