from checksums import digit_sum


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_zero():
    assert digit_sum(0) == 0


def test_several_digits():
    assert digit_sum(4096) == 19


def test_negative():
    assert raises(ValueError, digit_sum, -1)
