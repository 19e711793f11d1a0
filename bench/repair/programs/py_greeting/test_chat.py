from chat import greeting

USERS = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Linus"}]


def test_known():
    assert greeting(USERS, 2) == "Hello, Linus!"


def test_first():
    assert greeting(USERS, 1) == "Hello, Ada!"


def test_unknown():
    assert greeting(USERS, 3) == "Hello, stranger!"


def test_nobody():
    assert greeting([], 1) == "Hello, stranger!"
