from ranking import normalized


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_values():
    assert normalized({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}


def test_input_unchanged():
    scores = {"a": 2, "b": 2}
    normalized(scores)
    assert scores == {"a": 2, "b": 2}


def test_zero_total():
    assert raises(ValueError, normalized, {"a": 0})
