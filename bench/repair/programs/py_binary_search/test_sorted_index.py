from sorted_index import find_sorted


def test_found_in_the_middle():
    assert find_sorted([1, 3, 5, 7, 9], 5) == 2


def test_found_at_the_start():
    assert find_sorted([1, 3, 5, 7, 9], 1) == 0


def test_found_at_the_end():
    assert find_sorted([1, 3, 5, 7, 9], 9) == 4


def test_missing():
    assert find_sorted([1, 3, 5, 7, 9], 4) == -1


def test_empty():
    assert find_sorted([], 4) == -1
