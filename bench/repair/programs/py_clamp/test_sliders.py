from sliders import clamp


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_inside():
    assert clamp(5, 0, 10) == 5


def test_below():
    assert clamp(-3, 0, 10) == 0


def test_above():
    assert clamp(42, 0, 10) == 10


def test_on_the_edge():
    assert clamp(10, 0, 10) == 10


def test_empty_interval():
    assert raises(ValueError, clamp, 1, 5, 2)
