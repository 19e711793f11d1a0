from checkout import apply_discount


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_twenty_percent_off():
    assert apply_discount(100, 20) == 80.0


def test_no_discount():
    assert apply_discount(50, 0) == 50.0


def test_free():
    assert apply_discount(19.99, 100) == 0.0


def test_out_of_range():
    assert raises(ValueError, apply_discount, 10, 150)
