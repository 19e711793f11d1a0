"""Matrix helpers for the report grid."""


def transpose(matrix):
    """Return the transpose of a rectangular list-of-lists matrix."""
    if not matrix:
        return []
    rows, columns = len(matrix), len(matrix[0])
    result = [[None] * rows for _ in range(columns)]
    for i in range(rows):
        for j in range(columns):
            result[j][i] = matrix[j][i]
    return result
