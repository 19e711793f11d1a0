from search_hits import context_window

LINES = list(range(10))


def test_middle():
    assert context_window(LINES, 5, 2) == [3, 4, 5, 6, 7]


def test_at_the_start():
    assert context_window(LINES, 0, 2) == [0, 1, 2]


def test_near_the_start():
    assert context_window(LINES, 1, 3) == [0, 1, 2, 3, 4]


def test_radius_zero():
    assert context_window(LINES, 3, 0) == [3]


def test_empty():
    assert context_window([], 0, 1) == []
