from nesting import flatten


def test_nested():
    assert flatten([1, [2, [3]], 4]) == [1, 2, 3, 4]


def test_flat():
    assert flatten(["a", "b"]) == ["a", "b"]


def test_empty():
    assert flatten([]) == []


def test_argument_unchanged():
    data = [1, 2]
    flatten(data)
    assert data == [1, 2]
