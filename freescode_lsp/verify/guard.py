"""The guard on a plain fix: the user's configured check on the code before and after, to catch a fix that breaks
tests that passed. It runs only a check the user set up (`[verify] command` from a trusted layer, or the CLI's
--check); guessing a test command and running a workspace's code unasked is left to "Fix and verify"."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from attrs import frozen

from freescode_lsp.config import LoadedSettings
from freescode_lsp.verify.check import CheckResult
from freescode_lsp.verify.detect import ChosenCheck, NoCheck, choose_check
from freescode_lsp.verify.loop import CheckLimits, FixTarget, check_text

UNTRUSTED_CHECK = "verify.command"
FAILED_TEST = re.compile(r"^(?:FAILED|FAIL|ERROR)[: ]\s*(\S+?)(?::\s|\s+-\s|\s*$)", re.MULTILINE)
SHOWN_TESTS = 5


def tests_passed(count: int) -> str:
    """`1 test passed`, `3 tests passed`."""
    return f"{count} test{'' if count == 1 else 's'} passed"


def failing_tests(output: str) -> set[str]:
    """The tests a check's output names as failing (pytest's `FAILED a.py::t - ...`, `FAIL t: ...` lines)."""
    return set(FAILED_TEST.findall(output))


@frozen
class GuardVerdict:
    """The check on the code before the fix and after it, and what that says about the fix."""

    check: ChosenCheck
    before: CheckResult
    after: CheckResult

    @property
    def counted(self) -> bool:
        """Whether the run before the fix printed a test count to compare with (after it, none counts as 0 passed)."""
        return self.before.tests_counted() > 0

    @property
    def worse(self) -> bool:
        """The fix passes fewer tests than the code before it (none, when its tests no longer even load), or fails
        a check the code before it passed."""
        if self.after.passed and self.after.tests_counted() == 0:
            return False
        if self.counted:
            return self.after.tests_passed() < self.before.tests_passed()
        return self.before.passed and not self.after.passed

    def newly_failing(self) -> list[str]:
        """The tests that fail after the fix and did not before, as the check named them."""
        return sorted(failing_tests(self.after.output) - failing_tests(self.before.output))

    def summary(self) -> str:
        """One line: what the check said before and after the fix."""
        if self.counted:
            said = f"{tests_passed(self.before.tests_passed())} before the fix, {self.after.tests_passed()} after it"
        else:
            said = f"before the fix {self._word(self.before)}, after it {self._word(self.after)}"
        if not self.worse:
            return f"`{self.check.shown}`: {said}"
        named = self.newly_failing()
        listed = ", ".join(named[:SHOWN_TESTS]) + (f" and {len(named) - SHOWN_TESTS} more" if len(named) > SHOWN_TESTS else "")
        return f"the fix makes things worse: `{self.check.shown}`: {said}" + (f"; failing now: {listed}" if named else "")

    @staticmethod
    def _word(result: CheckResult) -> str:
        return "it passed" if result.passed else result.verdict().removeprefix(f"`{result.command}` ")


async def guard_fix(target: FixTarget, check: ChosenCheck, limits: CheckLimits, new_text: str) -> GuardVerdict:
    """Run the check on the file as it was and with the fix, each in its own scratch copy, side by side."""
    before, after = await asyncio.gather(
        check_text(target, check, limits, target.text), check_text(target, check, limits, new_text)
    )
    return GuardVerdict(check, before, after)


def guard_check(loaded: LoadedSettings, workspace: Path, relative_file: Path, given: str | None) -> ChosenCheck | str | None:
    """The check that guards a plain fix: the one given, else the trusted configured one; None when there is none to
    run, or a sentence saying why a configured one is not run."""
    verify = loaded.settings.verify
    if given is None:
        if not verify.guard:
            return None
        if UNTRUSTED_CHECK in loaded.untrusted:
            return f"the [verify] command of {workspace / 'freescode.toml'} is not run until you trust the file"
        if not verify.command:
            return None
    try:
        return choose_check(workspace, relative_file, given or verify.command)
    except NoCheck as exc:
        return str(exc)


def limits_of(loaded: LoadedSettings) -> CheckLimits:
    """The time and output limits of one check run, from `[verify]`."""
    verify = loaded.settings.verify
    return CheckLimits(verify.attempts, verify.timeout_s, verify.max_output_bytes)
