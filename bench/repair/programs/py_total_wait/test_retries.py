from retries import total_wait


def test_none():
    assert total_wait(0) == 0


def test_one():
    assert total_wait(1) == 1


def test_three():
    assert total_wait(3) == 7


def test_five():
    assert total_wait(5) == 31
