from aggregates import product


def test_several():
    assert product([2, 3, 4]) == 24


def test_empty():
    assert product([]) == 1


def test_with_zero():
    assert product([5, 0]) == 0


def test_negative():
    assert product([-1]) == -1
