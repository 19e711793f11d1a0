"""Source files the tests share: small programs with a known bug or a known shape."""

SOURCE = '''import math


def area(radius):
    """Area of a circle."""
    result = math.pi * radius
    return result


def untouched():
    return 42
'''
FIXED = '''def area(radius):
    """Area of a circle."""
    result = math.pi * radius ** 2
    return result
'''
FIXED_SOURCE = SOURCE.replace("math.pi * radius\n", "math.pi * radius ** 2\n")

GCD = '''def gcd(a, b):
    if b == 0:
        return a
    else:
        return gcd(a % b, b)


"""
Input:
    a: A nonnegative int
    b: A nonnegative int
"""
'''
