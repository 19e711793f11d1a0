"""Messages for the cart page."""


def cart_summary(name, count):
    """Return a sentence such as 'Ada has 3 items in the cart' (1 item, singular)."""
    noun = "item" if count == 1 else "items"
    return f"{count} has {name} {noun} in the cart"
