from grid import transpose


def test_square():
    assert transpose([[1, 2], [3, 4]]) == [[1, 3], [2, 4]]


def test_wide():
    assert transpose([[1, 2, 3], [4, 5, 6]]) == [[1, 4], [2, 5], [3, 6]]


def test_symmetric():
    assert transpose([[1, 2], [2, 1]]) == [[1, 2], [2, 1]]


def test_single_cell():
    assert transpose([[7]]) == [[7]]


def test_empty():
    assert transpose([]) == []
