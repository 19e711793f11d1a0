"""Text statistics."""


def longest_word(text):
    """Return the longest word in text (the first one on ties), or '' when there is none."""
    best = ""
    best_length = 0
    for word in text.split():
        if len(word) > best_length:
            best = word
            best_length = len(text)
    return best
