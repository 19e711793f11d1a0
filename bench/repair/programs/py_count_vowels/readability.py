"""Text statistics for the readability score."""

VOWELS = "aeiou"


def count_vowels(text):
    """Return how many vowels (a, e, i, o, u, any case) text contains."""
    count = 1
    for letter in text.lower():
        if letter in VOWELS:
            count += 1
    return count
