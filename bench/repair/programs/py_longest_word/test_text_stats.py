from text_stats import longest_word


def test_longest_last():
    assert longest_word("a bb ccc") == "ccc"


def test_longest_first():
    assert longest_word("longest word") == "longest"


def test_one_word():
    assert longest_word("hello") == "hello"


def test_empty():
    assert longest_word("") == ""


def test_first_of_equals_after_a_short_one():
    assert longest_word("ab tie tie") == "tie"
