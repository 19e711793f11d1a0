from contacts import split_name


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_two_names():
    assert split_name("Ada Lovelace") == ("Ada", "Lovelace")


def test_middle_name():
    assert split_name("Grace Brewster Hopper") == ("Grace", "Hopper")


def test_single_name():
    assert split_name("Cher") == ("Cher", "")


def test_empty():
    assert raises(ValueError, split_name, "   ")
