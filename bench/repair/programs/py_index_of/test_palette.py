from palette import index_of


def test_found():
    assert index_of([1, 2, 3], 2) == 1


def test_first_of_duplicates():
    assert index_of(["x", "y", "x"], "x") == 0


def test_missing():
    assert index_of(["a"], "b") == -1


def test_empty():
    assert index_of([], 1) == -1
