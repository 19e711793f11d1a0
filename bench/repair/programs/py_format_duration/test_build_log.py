from build_log import format_duration


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_padding():
    assert format_duration(3725) == "1:02:05"


def test_zero():
    assert format_duration(0) == "0:00:00"


def test_two_digit_fields():
    assert format_duration(4210) == "1:10:10"


def test_fraction_dropped():
    assert format_duration(7322.9) == "2:02:02"


def test_negative():
    assert raises(ValueError, format_duration, -1)
