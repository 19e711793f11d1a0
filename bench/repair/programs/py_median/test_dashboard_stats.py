from dashboard_stats import median


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_odd():
    assert median([3, 1, 2]) == 2


def test_even():
    assert median([4, 1, 3, 2]) == 2.5


def test_list_left_alone():
    data = [3, 1, 2]
    median(data)
    assert data == [3, 1, 2]


def test_empty():
    assert raises(ValueError, median, [])
