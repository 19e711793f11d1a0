from chunks import chunked


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_even_split():
    assert chunked([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]


def test_last_chunk_is_shorter():
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_single_item():
    assert chunked(["a"], 3) == [["a"]]


def test_empty():
    assert chunked([], 3) == []


def test_bad_size():
    assert raises(ValueError, chunked, [1], 0)
