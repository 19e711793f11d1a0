"""Our side: `freescode run fix FILE --line N --apply` as a real process on a scratch copy of the program, once as a
single attempt and once with `--verify` against the program's own tests."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CLI_TIMEOUT_S = 900.0
VERIFY_ATTEMPTS = 3
ASKED = re.compile(r"^freescode: attempt (\d+) of \d+: asking the model$", re.MULTILINE)


@dataclass
class CliRun:
    """What the command did: exit code, its output, and the seconds it took (start and model load included)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def said_no_change(self) -> bool:
        """The command reported that the model proposed no (real) change."""
        return "proposes no change" in self.stdout or "no real change" in self.stdout

    def refusal(self) -> str | None:
        """The reason the command gave for not writing the answer, when it failed."""
        if self.returncode == 0:
            return None
        lines = [line for line in self.stderr.strip().splitlines() if line.startswith("freescode: ")]
        return lines[-1].removeprefix("freescode: ") if lines else f"exit code {self.returncode}"

    def stand_in(self) -> str | None:
        """'X answered instead of Y' when another model answered."""
        return next((line for line in self.stderr.splitlines() if "answered instead of" in line), None)

    def attempts_used(self) -> int:
        """How many candidates a `--verify` run asked the model for (0 when the loop never started)."""
        return max((int(number) for number in ASKED.findall(self.stderr)), default=0)


def freescode_command() -> list[str]:
    """The `freescode` script of this environment, or the module when the script is not next to the interpreter."""
    script = Path(sys.executable).with_name("freescode")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "freescode_lsp.cli"]


def run_cli(path: Path, arguments: Sequence[str], env: dict[str, str]) -> CliRun:
    """Run `freescode` with the arguments in the file's folder, timed, killed after CLI_TIMEOUT_S."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [*freescode_command(), *arguments],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            env=env,
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        return CliRun(-1, "", f"freescode: killed after {CLI_TIMEOUT_S:g} s", time.perf_counter() - started)
    return CliRun(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def fix_arguments(path: Path, line: int, model: str) -> list[str]:
    """`run fix FILE --line N --apply --model M`, falling back when the model cannot answer, without streaming."""
    return ["run", "fix", str(path), "--line", str(line), "--apply", "--model", model, "--allow-fallback", "--quiet"]


def fix_with_cli(
    path: Path, line: int, model: str, env: dict[str, str], why: str | None = None, check: Sequence[str] | None = None
) -> CliRun:
    """Run the fix through the command line, applying it to the file (with --why, the error the user saw; with
    --check, the guard that refuses an answer passing fewer tests)."""
    extra = [*(("--why", why) if why else ()), *(("--check", shlex.join(check)) if check else ())]
    return run_cli(path, [*fix_arguments(path, line, model), *extra], env)


def verify_with_cli(
    path: Path, line: int, model: str, env: dict[str, str], check: Sequence[str], attempts: int = VERIFY_ATTEMPTS
) -> CliRun:
    """Run the verified fix: each candidate checked with the program's own tests, written only when it passed."""
    verify = ["--verify", "--check", shlex.join(check), "--attempts", str(attempts)]
    return run_cli(path, [*fix_arguments(path, line, model), *verify], env)
