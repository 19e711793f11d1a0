"""The "with verify" column: `freescode run fix --verify --attempts 3 --apply` per program, checked with the program's
own tests (the command the judge runs), against the single attempt of the same model in the same run."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Row
from bench.repair.checks import Tally, tests_command
from bench.repair.judge import Attempt, attempts_used, judge, summary
from bench.repair.ours import VERIFY_ATTEMPTS, verify_with_cli
from bench.repair.programs import Program

GOAL = 1.5
NOTE = (
    f"with verify = `freescode run fix FILE --line N --verify --attempts {VERIFY_ATTEMPTS} --apply`, the check being "
    "the program's own tests (Python: the bench's test harness; JavaScript: node on its test file), so only a "
    "candidate that passed is written (refused = none passed, nothing written); baseline = the single attempt "
    "(ours) of the same model in the same run; "
    f"goal: ratio >= {GOAL} and fewer-passing 0"
)


def verify_label(attempts: int = VERIFY_ATTEMPTS) -> str:
    """The verified side's name in the tables."""
    return f"ours with verify (--verify --attempts {attempts})"


async def verified(program: Program, before: Tally, model: str, env: dict[str, str], attempts: int = VERIFY_ATTEMPTS) -> Attempt:
    """Fix a scratch copy through `freescode run fix --verify --apply` and judge the file it leaves."""
    with tempfile.TemporaryDirectory(prefix="repair-verify-") as scratch:
        path = program.copy_to(Path(scratch))
        done = verify_with_cli(path, program.line, model, env, tests_command(program), attempts)
        after = path.read_text(encoding="utf-8")
    attempt = await judge(program, before, after, done.seconds, None if done.said_no_change() else done.refusal())
    attempt.attempts = done.attempts_used()
    attempt.note = "; ".join(part for part in (done.stand_in(), attempt.note) if part)
    return attempt


def verify_rows(model: str, single: list[Attempt], checked: list[Attempt], programs: int) -> list[Row]:
    """Bench rows for the verify column: fixed and median seconds against the single attempt, attempts, fewer-passing."""
    ours, verify = summary(single), summary(checked)
    what = f"repair {model} with verify"
    extra = {"model": model, "side": "verify"}
    return [
        Row(f"{what}: fixed of {programs}", verify["fixed"], ours["fixed"], "programs", note=NOTE, digits=0, extra=extra),
        Row(f"{what}: attempts used (mean)", attempts_used(checked), None, "attempts", note=NOTE, digits=2, extra=extra),
        Row(f"{what}: median s", verify["median s"], ours["median s"], "s", note=NOTE, digits=1, extra=extra),
        Row(f"{what}: fewer-passing", verify["fewer-passing"], None, "programs", note=NOTE, digits=0, extra=extra),
    ]


def goal_line(single: list[Attempt], checked: list[Attempt]) -> str:
    """Whether the verified fixes reach the goal: at least GOAL times the single attempt's fixed count, none worse."""
    ours, verify = summary(single)["fixed"], summary(checked)["fixed"]
    fewer = summary(checked)["fewer-passing"]
    ratio = f"{verify / ours:.2f}x" if ours else "no single-attempt fix to compare with"
    reached = ours > 0 and verify >= GOAL * ours and fewer == 0
    return (
        f"with verify: {verify:.0f} fixed against {ours:.0f} in a single attempt ({ratio}; goal >= {GOAL}x), "
        f"{attempts_used(checked):.2f} attempts used on average, {fewer:.0f} left with fewer tests passing: "
        + ("goal reached" if reached else "goal not reached")
    )


def curve_line(checked: list[Attempt]) -> str:
    """Fixed within each number of attempts: how much each further attempt adds."""
    fixed = [attempt.attempts for attempt in checked if attempt.outcome == "fixed"]
    most = max((attempt.attempts for attempt in checked), default=0)
    steps = ", ".join(f"{k}: {sum(1 for used in fixed if used <= k)}" for k in range(1, most + 1))
    return f"fixed within k attempts ({steps})"
