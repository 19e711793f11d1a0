from marketing import conversion_rate


def test_rate():
    assert conversion_rate(5, 200) == 2.5


def test_rounding():
    assert conversion_rate(1, 3) == 33.3


def test_no_visits():
    assert conversion_rate(0, 0) == 0.0


def test_conversions_without_visits():
    assert conversion_rate(3, 0) == 0.0
