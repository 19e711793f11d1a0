from settings import merged_settings


def raises(error, call, *args):
    """Whether call(*args) raises error."""
    try:
        call(*args)
    except error:
        return True
    return False


def test_override_wins():
    assert merged_settings({"theme": "light", "size": 12}, {"size": 14}) == {"theme": "light", "size": 14}


def test_no_overrides():
    assert merged_settings({"theme": "light"}, {}) == {"theme": "light"}


def test_unknown_key():
    assert raises(KeyError, merged_settings, {"theme": "light"}, {"colour": "red"})


def test_defaults_are_not_changed():
    defaults = {"theme": "light"}
    merged_settings(defaults, {"theme": "dark"})
    assert defaults == {"theme": "light"}
