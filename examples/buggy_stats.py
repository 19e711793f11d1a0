"""A small module with bugs, for `make demo`."""


def last(items):
    return items[len(items)]


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values) + 1
