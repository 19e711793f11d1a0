from pagination import page_count


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_no_results_no_pages():
    assert page_count(0, 10) == 0


def test_exact_multiple():
    assert page_count(10, 10) == 1
    assert page_count(30, 10) == 3


def test_partial_last_page():
    assert page_count(11, 10) == 2
    assert page_count(25, 10) == 3


def test_bad_page_size():
    assert raises(ValueError, page_count, 5, 0)
