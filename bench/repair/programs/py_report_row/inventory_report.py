"""Plain-text inventory report."""


def report_row(name, quantity, width=12):
    """Return one row: the name left-aligned in `width` columns, then the quantity right-aligned in 5."""
    if len(name) > width:
        name = name[: width - 1] + "…"
    return f"{name:>{width}}|{quantity:>5}"
