from paging import page_items

ITEMS = list(range(1, 11))


def test_first_page():
    assert page_items(ITEMS, 1, 4) == [1, 2, 3, 4]


def test_second_page():
    assert page_items(ITEMS, 2, 4) == [5, 6, 7, 8]


def test_last_page_is_short():
    assert page_items(ITEMS, 3, 4) == [9, 10]


def test_past_the_end():
    assert page_items(ITEMS, 4, 4) == []
