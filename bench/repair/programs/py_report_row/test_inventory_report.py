from inventory_report import report_row


def test_short_name():
    assert report_row("bolts", 40) == "bolts       |   40"


def test_full_width_name():
    assert report_row("x" * 12, 1) == "xxxxxxxxxxxx|    1"


def test_long_name_cut():
    assert report_row("a" * 15, 2) == "aaaaaaaaaaa…|    2"


def test_narrow():
    assert report_row("nut", 7, width=5) == "nut  |    7"
