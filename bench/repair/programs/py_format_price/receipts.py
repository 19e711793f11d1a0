"""Receipt printing."""


def format_price(amount, currency="$"):
    """Return amount as a price with two decimals and thousands separators, e.g. '$1,234.50'."""
    if amount < 0:
        return "-" + format_price(-amount, currency)
    return f"{currency}{amount:,.1f}"
