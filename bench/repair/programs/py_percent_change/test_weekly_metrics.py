from weekly_metrics import percent_change


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_rise():
    assert percent_change(50, 75) == 50.0


def test_fall():
    assert percent_change(100, 50) == -50.0


def test_small_rise():
    assert percent_change(4, 5) == 25.0


def test_no_change():
    assert percent_change(10, 10) == 0.0


def test_zero_old():
    assert raises(ValueError, percent_change, 0, 5)
