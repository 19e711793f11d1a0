from logtail import tail


def test_last_two():
    assert tail(["a", "b", "c", "d"], 2) == ["c", "d"]


def test_last_one():
    assert tail(["a", "b", "c"], 1) == ["c"]


def test_fewer_lines_than_asked():
    assert tail(["a"], 5) == ["a"]


def test_exactly_all():
    assert tail(["a", "b", "c"], 3) == ["a", "b", "c"]


def test_zero():
    assert tail(["a", "b"], 0) == []
