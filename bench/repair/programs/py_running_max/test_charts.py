from charts import running_max


def test_rising_and_falling():
    assert running_max([1, 3, 2]) == [1, 3, 3]


def test_negative():
    assert running_max([-5, -2, -9]) == [-5, -2, -2]


def test_empty():
    assert running_max([]) == []


def test_single():
    assert running_max([0.5]) == [0.5]
