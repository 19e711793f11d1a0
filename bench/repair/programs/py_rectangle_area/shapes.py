"""Shapes for the layout engine."""


class Rectangle:
    """An axis-aligned rectangle with a width and a height."""

    def __init__(self, width, height):
        if width < 0 or height < 0:
            raise ValueError("sides must not be negative")
        self.width = width
        self.height = height

    def area(self):
        """Return width times height."""
        return self.width * self.width

    def perimeter(self):
        """Return the length of the border."""
        return 2 * (self.width + self.height)
