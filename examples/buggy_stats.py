"""A small module with a bug, for `make demo`."""


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values) + 1


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
