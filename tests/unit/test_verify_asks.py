"""The verified fix's order of asks: the plain fix, the fix shown the original's failure, then the last candidate
and its failure."""

from __future__ import annotations

import pytest

from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.repair_context import LEAVE_OUT_ENV
from freescode_lsp.tasks.runner import TaskOutcome
from freescode_lsp.verify.check import CheckResult
from freescode_lsp.verify.detect import ChosenCheck
from freescode_lsp.verify.loop import Attempt, failure_ask, next_ask

FAILED = """\
___________________________________ test_above ___________________________________

    def test_above():
>       assert clamp(42, 0, 10) == 10
E       assert 42 == 10

test_sliders.py:20: AssertionError
=========================== short test summary info ============================
FAILED test_sliders.py::test_above - assert 42 == 10
1 failed, 4 passed in 0.02s
"""
ITEM = TaskInput("fix", "def clamp(value, low, high):\n    return value\n", "python")
CHECK = ChosenCheck(("pytest", "-x", "-q"), "the configured check")


def test_a_failing_original_gives_a_fix_aimed_at_its_first_failure() -> None:
    asked = failure_ask(ITEM, CHECK, CheckResult("pytest -x -q", 1, FAILED))
    assert asked is not None
    assert asked.extra is not None and not asked.sampled
    assert "The code above fails the project's check `pytest -x -q`" in asked.extra
    assert "assert 42 == 10" in asked.extra and "test_above" in asked.extra
    assert "short test summary" not in asked.extra
    assert asked.code == ITEM.code


@pytest.mark.parametrize(
    "original",
    [
        CheckResult("pytest -x -q", 0, "5 passed in 0.01s\n"),
        CheckResult("pytest -x -q", None, FAILED, timed_out=True),
        CheckResult("pytest -x -q", None, FAILED, flooded=True),
        CheckResult("pytest -x -q", 1, "  \n"),
    ],
    ids=["passed", "timed-out", "flooded", "silent"],
)
def test_an_original_that_passes_or_says_nothing_useful_gives_no_aimed_fix(original: CheckResult) -> None:
    assert failure_ask(ITEM, CHECK, original) is None


def test_the_bench_can_leave_the_failure_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LEAVE_OUT_ENV, "failure")
    assert failure_ask(ITEM, CHECK, CheckResult("pytest -x -q", 1, FAILED)) is None


def failed_attempt(candidate: str | None) -> Attempt:
    """An attempt whose candidate (if any) failed the check with FAILED."""
    check = CheckResult("pytest -x -q", 1, FAILED) if candidate is not None else None
    return Attempt(1, TaskOutcome("fix", "code-model"), candidate, check)


def test_the_aimed_fix_comes_first_then_the_last_candidate_and_its_failure_sampled() -> None:
    aimed = failure_ask(ITEM, CHECK, CheckResult("pytest -x -q", 1, FAILED))
    candidate = "def clamp(value, low, high):\n    return min(value, high)\n"
    assert next_ask(ITEM, CHECK, failed_attempt(candidate), aimed) is aimed
    retry = next_ask(ITEM, CHECK, failed_attempt(candidate), None)
    assert retry.sampled and retry.extra is not None
    assert "A previous attempt" in retry.extra and "min(value, high)" in retry.extra and "assert 42 == 10" in retry.extra


def test_an_attempt_without_a_candidate_is_followed_by_the_plain_fix_sampled() -> None:
    again = next_ask(ITEM, CHECK, failed_attempt(None), None)
    assert again.sampled and again.extra is None and again.code == ITEM.code
