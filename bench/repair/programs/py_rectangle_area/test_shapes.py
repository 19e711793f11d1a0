from shapes import Rectangle


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_area():
    assert Rectangle(3, 4).area() == 12


def test_square_area():
    assert Rectangle(5, 5).area() == 25


def test_perimeter():
    assert Rectangle(3, 4).perimeter() == 14


def test_negative_side():
    assert raises(ValueError, Rectangle, -1, 2)
