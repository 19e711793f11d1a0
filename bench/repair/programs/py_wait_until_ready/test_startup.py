from startup import wait_until_ready


class Check:
    """A readiness check that says ready on its `ready_on`-th call (never when None), counting its calls."""

    def __init__(self, ready_on):
        self.ready_on = ready_on
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.ready_on is not None and self.calls >= self.ready_on


def test_ready_at_once():
    assert wait_until_ready(Check(1), 3) is True


def test_ready_on_third_call():
    assert wait_until_ready(Check(3), 5) is True


def test_no_attempts():
    assert wait_until_ready(Check(1), 0) is False


def test_never_ready_gives_up():
    check = Check(None)
    assert wait_until_ready(check, 4) is False
    assert check.calls == 4
