"""Look up ids in a sorted index."""


def find_sorted(items, target):
    """Return the index of target in the ascending list items, or -1."""
    low, high = 0, len(items) - 1
    while low <= high:
        middle = (low + high) // 2
        if items[middle] == target:
            return middle
        if items[middle] > target:
            low = middle + 1
        else:
            high = middle - 1
    return -1
