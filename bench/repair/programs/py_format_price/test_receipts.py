from receipts import format_price


def test_thousands():
    assert format_price(1234.5) == "$1,234.50"


def test_zero():
    assert format_price(0) == "$0.00"


def test_negative():
    assert format_price(-3) == "-$3.00"


def test_other_currency():
    assert format_price(2.25, "€") == "€2.25"
