from checkout import order_total


def test_one_item():
    assert order_total([{"price": 2.5, "quantity": 2}]) == 5.0


def test_two_items():
    assert order_total([{"price": 1.1, "quantity": 3}, {"price": 0.99, "quantity": 1}]) == 4.29


def test_empty():
    assert order_total([]) == 0


def test_nothing_bought():
    assert order_total([{"price": 7.0, "quantity": 0}]) == 0
