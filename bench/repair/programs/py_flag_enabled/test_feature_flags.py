from feature_flags import flag_enabled


def test_on():
    assert flag_enabled({"flags": {"dark": True}}, "dark") is True


def test_off():
    assert flag_enabled({"flags": {"beta": 0}}, "beta") is False


def test_missing_flag():
    assert flag_enabled({"flags": {"dark": True}}, "beta") is False


def test_no_flags_table():
    assert flag_enabled({}, "dark") is False
