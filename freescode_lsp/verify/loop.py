"""The verified-fix loop: propose a fix, run the user's check on it in a scratch copy, show the failure, try again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from attrs import define, evolve, field, frozen

from freescode_lsp.edits import lines_with_ends
from freescode_lsp.edits.line_endings import keep_line_endings, usual_ending
from freescode_lsp.routing.router import Router
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.repair_context import left_out
from freescode_lsp.tasks.retry import code_lines
from freescode_lsp.tasks.runner import ChunkHook, TaskOutcome, run_task
from freescode_lsp.verify.check import CheckResult, run_check
from freescode_lsp.verify.detect import ChosenCheck
from freescode_lsp.verify.feedback import failing_note, retry_note, trimmed_failure
from freescode_lsp.verify.scratch import scratch_copy

ProgressHook = Callable[[str], None]


@frozen
class CheckLimits:
    """How many attempts, and how long and how loud one check may be."""

    attempts: int = 3
    timeout_s: float = 120.0
    max_output_bytes: int = 1_000_000


@frozen
class FixTarget:
    """The file a fix is for: its workspace, its path there, its text, and the lines [start, end) being fixed."""

    workspace: Path
    relative_file: Path
    text: str
    start: int
    end: int

    def with_region(self, region_text: str) -> str:
        """The whole file with the region replaced, line endings kept."""
        lines = lines_with_ends(self.text)
        new_region = keep_line_endings(lines[self.start : self.end], region_text, usual_ending(lines))
        return "".join(lines[: self.start]) + new_region + "".join(lines[self.end :])


@define
class Attempt:
    """One attempt: the model's candidate (None when it gave none), its check, and whether it repeated an earlier one."""

    number: int
    outcome: TaskOutcome
    candidate: str | None = None
    check: CheckResult | None = None
    repeated: bool = False

    @property
    def passed(self) -> bool:
        """Whether this candidate passed the check (a repeat of the original or of a failed one never does)."""
        return self.check is not None and self.check.passed and not self.repeated


@define
class VerifyResult:
    """The loop's end: the candidate that passed, or the best one that did not (never fewer tests than the original)."""

    check: ChosenCheck
    original: CheckResult
    allowed: int
    attempts: list[Attempt] = field(factory=list)

    @property
    def passed(self) -> Attempt | None:
        """The first attempt whose candidate passed, if any."""
        return next((attempt for attempt in self.attempts if attempt.passed), None)

    @property
    def best(self) -> Attempt | None:
        """When none passed: the checked candidate with most tests passing, if that is no fewer than the original's."""
        checked = [a for a in self.attempts if a.check is not None and a.candidate is not None and not a.repeated]
        floor = self.original.tests_passed()
        fair = [a for a in checked if a.check is not None and a.check.tests_passed() >= floor]
        return max(fair, key=lambda a: a.check.tests_passed() if a.check else 0, default=None)

    @property
    def last_check(self) -> CheckResult:
        """The last check that ran."""
        ran = [attempt.check for attempt in self.attempts if attempt.check is not None]
        return ran[-1] if ran else self.original

    def status(self) -> str:
        """One line for the status bar or the terminal."""
        if (won := self.passed) is not None:
            return f"verified: `{self.check.shown}` passed (attempt {won.number} of {self.allowed})"
        return f"not verified: no candidate passed `{self.check.shown}` in {len(self.attempts)} attempts"


def _shape(text: str, language: str | None) -> tuple[str, ...]:
    """A candidate without trailing spaces, blank lines and whole-line comments, to tell repeats."""
    return tuple(code_lines(text, language))


def failure_ask(item: TaskInput, check: ChosenCheck, original: CheckResult) -> TaskInput | None:
    """The fix aimed at how the code as it stands fails the check, when it does (in time, within the cap); else None."""
    if original.passed or original.timed_out or original.flooded or not original.output.strip():
        return None
    if "failure" in left_out():
        return None
    return evolve(item, extra=failing_note(check.shown, trimmed_failure(original.output)))


def next_ask(item: TaskInput, check: ChosenCheck, attempt: Attempt, informed: TaskInput | None) -> TaskInput:
    """What to ask after a failed attempt: the fix aimed at the original's failure when there is one not yet asked,
    else the last candidate and its failure (or, without a candidate, the plain fix), sampled."""
    if informed is not None:
        return informed
    if attempt.candidate is None or attempt.check is None:
        return evolve(item, sampled=True)
    failure = trimmed_failure(attempt.check.output)
    unchanged = _shape(attempt.candidate, item.language) == _shape(item.code, item.language)
    note = retry_note(item.language or "text", attempt.candidate, check.shown, failure, unchanged)
    return evolve(item, extra=note, sampled=True)


async def check_text(target: FixTarget, check: ChosenCheck, limits: CheckLimits, text: str) -> CheckResult:
    """Run the check on the file with this text, in a fresh scratch copy of the workspace."""
    async with scratch_copy(target.workspace, target.relative_file, text) as scratch:
        return await run_check(check.argv, scratch, limits.timeout_s, limits.max_output_bytes, check.shown)


async def verify_fix(
    router: Router,
    item: TaskInput,
    target: FixTarget,
    check: ChosenCheck,
    limits: CheckLimits,
    model: str | None = None,
    on_progress: ProgressHook | None = None,
    on_chunk: ChunkHook | None = None,
    max_tokens: int = 1024,
) -> VerifyResult:
    """Check the original once, then up to `limits.attempts` fixes: the plain fix, the fix shown the original's
    failure, then each retry shown the last candidate and its failure."""

    def say(message: str) -> None:
        if on_progress is not None:
            on_progress(message)

    say(f"checking the original with `{check.shown}`")
    result = VerifyResult(check, await check_text(target, check, limits, target.text), limits.attempts)
    say(f"original: {result.original.verdict()}, {result.original.tests_passed()} tests passed")
    seen: dict[tuple[str, ...], CheckResult] = {_shape(item.code, item.language): result.original}
    informed = failure_ask(item, check, result.original)
    asked = item
    for number in range(1, limits.attempts + 1):
        say(f"attempt {number} of {limits.attempts}: asking the model")
        attempt = Attempt(number, await run_task(router, asked, model, on_chunk, max_tokens))
        result.attempts.append(attempt)
        attempt.candidate = attempt.outcome.text
        if attempt.candidate is None:
            say(f"attempt {number} of {limits.attempts}: no candidate ({attempt.outcome.problem})")
        elif (shape := _shape(attempt.candidate, item.language)) in seen:
            attempt.check, attempt.repeated = seen[shape], True
            say(f"attempt {number} of {limits.attempts}: the same code as before; not run again")
        else:
            say(f"attempt {number} of {limits.attempts}: running `{check.shown}`")
            attempt.check = seen[shape] = await check_text(target, check, limits, target.with_region(attempt.candidate))
            say(f"attempt {number} of {limits.attempts}: {attempt.check.verdict()}")
        if attempt.passed:
            break
        asked, informed = next_ask(item, check, attempt, informed), None
    return result
