"""What a fix did to a program: fixed, unchanged, refused or changed but failing, and what it made worse."""

from __future__ import annotations

import difflib
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.repair.checks import Tally, lines_outside, parses, run_tests
from bench.repair.programs import Program
from freescode_lsp.edits import lines_with_ends

OUTCOMES = ("fixed", "unchanged", "refused", "changed_failing")
COLUMNS = ("fixed", "unchanged", "refused", "changed-failing", "fewer-passing", "broke-parsing", "outside-unit", "median s")


@dataclass
class Attempt:
    """One side's try at one program."""

    outcome: str
    passed: int
    fewer_passing: bool
    broke_parsing: bool
    lines_outside: int
    seconds: float
    note: str = ""
    diff: str = ""
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        """The attempt as plain JSON values."""
        return asdict(self)


def same_code(old: str, new: str) -> bool:
    """Whether two texts differ only in blank lines and trailing spaces."""

    def shape(text: str) -> list[str]:
        return [line.rstrip() for line in text.splitlines() if line.strip()]

    return shape(old) == shape(new)


def diff_of(program: Program, after: str) -> str:
    """The change as a unified diff of the program's source."""
    lines = difflib.unified_diff(lines_with_ends(program.buggy), lines_with_ends(after), "buggy", "after")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


async def judge(program: Program, before: Tally, after: str, seconds: float, refusal: str | None = None) -> Attempt:
    """Run the program's tests on the new source in a scratch folder and say what the change did."""
    if same_code(program.buggy, after):
        outcome = "refused" if refusal else "unchanged"
        return Attempt(outcome, before.passed, False, False, 0, seconds, note=refusal or "")
    start, end = program.unit()
    with tempfile.TemporaryDirectory(prefix="repair-") as scratch:
        program.copy_to(Path(scratch), after)
        tally = run_tests(program, Path(scratch), before.total)
    passed = min(tally.passed, before.total)
    fixed = passed == before.total and tally.failed == 0 and not tally.timed_out
    return Attempt(
        outcome="fixed" if fixed else "changed_failing",
        passed=passed,
        fewer_passing=passed < before.passed,
        broke_parsing=not await parses(program.language, after),
        lines_outside=lines_outside(program.buggy, after, start, end),
        seconds=seconds,
        note="" if fixed else tally.output[-600:],
        diff=diff_of(program, after),
    )


def attempts_used(attempts: list[Attempt]) -> float:
    """The mean number of candidates asked for per program (nan when there are no programs)."""
    return statistics.mean(a.attempts for a in attempts) if attempts else float("nan")


def summary(attempts: list[Attempt]) -> dict[str, float]:
    """The counts of a side over the programs it tried, in COLUMNS order, and its median seconds."""
    counts = {outcome: float(sum(1 for a in attempts if a.outcome == outcome)) for outcome in OUTCOMES}
    return {
        "fixed": counts["fixed"],
        "unchanged": counts["unchanged"],
        "refused": counts["refused"],
        "changed-failing": counts["changed_failing"],
        "fewer-passing": float(sum(1 for a in attempts if a.fewer_passing)),
        "broke-parsing": float(sum(1 for a in attempts if a.broke_parsing)),
        "outside-unit": float(sum(1 for a in attempts if a.lines_outside)),
        "median s": statistics.median(a.seconds for a in attempts) if attempts else float("nan"),
    }
