from saved_searches import with_tag


def test_adds():
    assert with_tag(["a"], "b") == ["a", "b"]


def test_present_once():
    assert with_tag(["a"], "a") == ["a"]


def test_given_list_unchanged():
    tags = ["a"]
    with_tag(tags, "b")
    assert tags == ["a"]


def test_new_list():
    tags = ["a"]
    assert with_tag(tags, "b") is not tags
