"""Judging a program's file after a fix: its tests under a time limit, whether it parses, what changed outside the unit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.repair.programs import Program
from freescode_lsp.edits import split_lines
from freescode_lsp.tasks.parse_check import CHECKERS

HARNESS = Path(__file__).resolve().parent / "harness.py"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)
NODE_HEAP_MB = 256


@dataclass
class Tally:
    """How many of a program's tests passed and failed, and what the run printed (its tail)."""

    passed: int
    failed: int
    output: str
    timed_out: bool = False

    @property
    def total(self) -> int:
        """Tests counted in this run."""
        return self.passed + self.failed

    def all_passed(self) -> bool:
        """Every test ran and passed."""
        return self.failed == 0 and self.passed > 0 and not self.timed_out


def tests_command(program: Program) -> list[str]:
    """The command that runs the program's tests in its folder."""
    if program.language == "python":
        return [sys.executable, str(HARNESS), program.test, f"{program.test_seconds:g}"]
    return [shutil.which("node") or "node", f"--max-old-space-size={NODE_HEAP_MB}", program.test]


def run_tests(program: Program, folder: Path, tests: int = 8) -> Tally:
    """Run the tests in folder with a time limit per test and one for the whole run (as if each of `tests` tests ran
    to its limit); parse `N passed, M failed`."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    limit = program.test_seconds * (tests + 1) + 5
    try:
        done = subprocess.run(
            tests_command(program), cwd=folder, capture_output=True, text=True, timeout=limit, env=env, errors="replace"
        )
    except subprocess.TimeoutExpired as exc:
        printed = exc.stdout.decode("utf-8", "replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Tally(0, 0, printed[-2000:] + f"\n(killed after {limit:g} s)", timed_out=True)
    output = done.stdout + done.stderr
    found = SUMMARY.findall(done.stdout)
    passed, failed = (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)
    return Tally(passed, failed, output[-2000:])


async def parses(language: str, text: str) -> bool:
    """Whether the text parses (Python with ast, JavaScript with `node --check`); True where no parser is at hand."""
    checker = CHECKERS.get(language)
    return checker is None or await checker(text) is None


def lines_outside(before: str, after: str, start: int, end: int) -> int:
    """Lines outside [start, end) of `before` that differ in `after`: the head compared from the top, the tail from
    the bottom, so that whatever the unit grew or shrank to sits between them."""
    old, new = split_lines(before), split_lines(after)
    head = sum(1 for i in range(start) if i >= len(new) or new[i] != old[i])
    tail = old[end:]
    room = max(len(new) - start, 0)
    kept = min(len(tail), room)
    compared = zip(reversed(tail), reversed(new[len(new) - kept :] if kept else []), strict=False)
    return head + sum(1 for a, b in compared if a != b) + (len(tail) - kept)
