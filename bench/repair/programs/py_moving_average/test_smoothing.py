from smoothing import moving_average


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_pairs():
    assert moving_average([1, 2, 3, 4], 2) == [1.5, 2.5, 3.5]


def test_window_as_long_as_the_series():
    assert moving_average([5, 5, 5], 3) == [5.0]


def test_series_shorter_than_the_window():
    assert moving_average([1, 2], 3) == []


def test_zero_window():
    assert raises(ValueError, moving_average, [1, 2], 0)
