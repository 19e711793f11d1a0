from readability import count_vowels


def test_word():
    assert count_vowels("hello") == 2


def test_empty():
    assert count_vowels("") == 0


def test_no_vowels():
    assert count_vowels("rhythm") == 0


def test_upper_case():
    assert count_vowels("AEIOU") == 5
