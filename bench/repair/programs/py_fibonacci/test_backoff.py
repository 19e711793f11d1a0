from backoff import fibonacci


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_zero():
    assert fibonacci(0) == 0


def test_one():
    assert fibonacci(1) == 1


def test_ten():
    assert fibonacci(10) == 55


def test_negative():
    assert raises(ValueError, fibonacci, -1)
