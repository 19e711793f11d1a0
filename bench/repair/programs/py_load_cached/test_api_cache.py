from api_cache import load_cached


def test_object():
    assert load_cached('{"a": 1}') == {"a": 1}


def test_empty():
    assert load_cached("  ") == {}


def test_not_an_object():
    assert load_cached("[1, 2]") == {}


def test_corrupt():
    assert load_cached("{broken") == {}


def test_cut_short():
    assert load_cached('{"a": 1') == {}
