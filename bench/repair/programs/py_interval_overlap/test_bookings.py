from bookings import overlap


def test_partial():
    assert overlap((1, 5), (3, 8)) == (3, 5)


def test_apart():
    assert overlap((1, 2), (3, 4)) is None


def test_touching():
    assert overlap((1, 3), (3, 5)) is None


def test_same():
    assert overlap((2, 6), (2, 6)) == (2, 6)


def test_inside():
    assert overlap((0, 10), (4, 6)) == (4, 6)
