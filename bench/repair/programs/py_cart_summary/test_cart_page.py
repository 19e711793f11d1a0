from cart_page import cart_summary


def test_plural():
    assert cart_summary("Ada", 3) == "Ada has 3 items in the cart"


def test_singular():
    assert cart_summary("Bo", 1) == "Bo has 1 item in the cart"


def test_noun_for_several():
    assert " items in " in cart_summary("Cy", 2)


def test_noun_for_one():
    assert " item in " in cart_summary("Di", 1)
