from timeline import insertion_point


def test_empty():
    assert insertion_point([], 5) == 0


def test_before_everything():
    assert insertion_point([10, 20], 5) == 0


def test_between_and_after_equal():
    assert insertion_point([10, 20, 30], 25) == 2
    assert insertion_point([10, 20, 20, 30], 20) == 3
