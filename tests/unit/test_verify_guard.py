"""The guard's verdict on a plain fix: what counts as worse, and which tests it names as newly failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from freescode_lsp.config import LoadedSettings
from freescode_lsp.config.settings import Settings, VerifySettings
from freescode_lsp.verify.check import CheckResult
from freescode_lsp.verify.detect import ChosenCheck
from freescode_lsp.verify.guard import GuardVerdict, failing_tests, guard_check

CHECK = ChosenCheck(("pytest", "-q"), "from [verify] command")


def result(output: str, exit_code: int = 1) -> CheckResult:
    return CheckResult("pytest -q", exit_code, output)


def test_failing_tests_are_read_from_pytest_and_from_plain_fail_lines() -> None:
    pytest_output = "FAILED tests/test_a.py::test_one - assert 1 == 2\nFAILED tests/test_a.py::test_two\n2 failed"
    harness_output = "FAIL test_inside: assert 10 == 5\nFAIL test_edge: still running after 2 s\n1 passed, 2 failed"
    assert failing_tests(pytest_output) == {"tests/test_a.py::test_one", "tests/test_a.py::test_two"}
    assert failing_tests(harness_output) == {"test_inside", "test_edge"}


def test_fewer_tests_passing_is_worse_and_names_only_the_new_failures() -> None:
    before = result("FAIL test_old: x\n2 passed, 1 failed")
    after = result("FAIL test_old: x\nFAIL test_new: y\n1 passed, 2 failed")
    verdict = GuardVerdict(CHECK, before, after)
    assert verdict.worse and verdict.newly_failing() == ["test_new"]
    assert "2 tests passed before the fix, 1 after it; failing now: test_new" in verdict.summary()


@pytest.mark.parametrize(
    ("before", "after", "worse"),
    [
        (result("1 passed, 1 failed"), result("2 passed", 0), False),
        (result("1 passed, 1 failed"), result("1 passed, 1 failed"), False),
        (result("ok", 0), result("error: bad type", 1), True),
        (result("error: x", 1), result("error: y", 1), False),
        (result("2 passed, 1 failed"), result("ERROR importing test_a.py: ImportError\n0 passed, 0 failed"), True),
        (result("2 passed, 1 failed"), result("ImportError while importing test module"), True),
        (result("2 passed, 1 failed"), result("", 0), False),
    ],
)
def test_worse_means_fewer_passing_or_a_passing_check_that_now_fails(
    before: CheckResult, after: CheckResult, worse: bool
) -> None:
    assert GuardVerdict(CHECK, before, after).worse is worse


def loaded(command: str | None, guard: bool = True, untrusted: list[str] | None = None) -> LoadedSettings:
    return LoadedSettings(Settings(verify=VerifySettings(command=command, guard=guard)), untrusted=untrusted or [])


def test_the_guard_runs_only_a_check_someone_set_up(tmp_path: Path) -> None:
    (tmp_path / "stats.py").write_text("x = 1\n")
    (tmp_path / "test_stats.py").write_text("import stats\n")
    relative = Path("stats.py")
    assert guard_check(loaded(None), tmp_path, relative, None) is None
    assert guard_check(loaded("mypy {file}", guard=False), tmp_path, relative, None) is None
    configured = guard_check(loaded("pytest -q {tests}"), tmp_path, relative, None)
    assert isinstance(configured, ChosenCheck) and configured.argv == ("pytest", "-q", "test_stats.py")
    untrusted = guard_check(loaded(None, untrusted=["verify.command"]), tmp_path, relative, None)
    assert isinstance(untrusted, str) and "not run until you trust" in untrusted
    given = guard_check(loaded(None, guard=False), tmp_path, relative, "mypy {file}")
    assert isinstance(given, ChosenCheck) and given.argv == ("mypy", "stats.py")
