"""Checkout totals."""


def unit_price_cents(item):
    """The price of one unit of the item, in whole cents (an int)."""
    return round(item["price"] * 100)


def order_total(items):
    """The order's total in dollars (a float): each item's unit price times its quantity."""
    total = 0
    for item in items:
        total += unit_price_cents(item) * item["quantity"]
    return total
