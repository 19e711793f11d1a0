"""Keywords for the search index."""

STOP_WORDS = {"the", "a", "an", "of", "and"}


def normalized(word):
    """The word lower-cased without punctuation around it, or None for a stop word or when nothing is left."""
    cleaned = word.strip(".,;:!?\"'()").lower()
    if not cleaned or cleaned in STOP_WORDS:
        return None
    return cleaned


def keywords(text):
    """The distinct keywords of the text, in the order they first appear."""
    found = []
    for word in text.split():
        key = normalized(word)
        if key not in found:
            found.append(key)
    return found
