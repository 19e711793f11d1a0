from index import keywords


def test_stop_words_and_punctuation():
    assert keywords("The cat and the hat.") == ["cat", "hat"]


def test_repeats():
    assert keywords("Cat cat CAT!") == ["cat"]


def test_only_stop_words():
    assert keywords("of a the") == []


def test_empty():
    assert keywords("") == []
