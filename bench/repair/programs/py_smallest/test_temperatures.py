from temperatures import smallest


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_positive():
    assert smallest([3, 1, 2]) == 1


def test_negative():
    assert smallest([-4, 2]) == -4


def test_single():
    assert smallest([7]) == 7


def test_empty():
    assert raises(ValueError, smallest, [])
