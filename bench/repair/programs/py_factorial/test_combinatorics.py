from combinatorics import factorial


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_zero():
    assert factorial(0) == 1


def test_one():
    assert factorial(1) == 1


def test_five():
    assert factorial(5) == 120


def test_negative():
    assert raises(ValueError, factorial, -2)
