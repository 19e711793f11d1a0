"""Run one check in a scratch copy: its own process group, a time limit, an output cap, and every process killed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import signal
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from freescode_lsp.verify.scratch import Scratch

READ_BLOCK = 65_536
DRAIN_S = 5.0
PIPE_CLOSE_S = 1.0
EXIT_POLL_S = 0.05
SUMMARY_COUNT = re.compile(r"(\d+) (passed|failed|errors?)\b")


@frozen
class CheckResult:
    """How one run of a check ended, with what it printed (capped)."""

    command: str
    exit_code: int | None
    output: str
    timed_out: bool = False
    flooded: bool = False

    @property
    def passed(self) -> bool:
        """Whether the check passed: exit 0, in time, within the output cap."""
        return self.exit_code == 0 and not self.timed_out and not self.flooded

    def _summary(self) -> dict[str, int]:
        """The counts of the last summary line (`3 passed, 1 failed`), empty when there is none."""
        for line in reversed(self.output.splitlines()):
            if counts := {kind.rstrip("s"): int(number) for number, kind in SUMMARY_COUNT.findall(line)}:
                return counts
        return {}

    def tests_passed(self) -> int:
        """Tests passed per pytest's last summary line (0 when there is none)."""
        return self._summary().get("passed", 0)

    def tests_counted(self) -> int:
        """Tests the last summary line counts: passed, failed and errors (0 when there is none)."""
        return sum(self._summary().values())

    def verdict(self) -> str:
        """The result in a few words, for progress and the command line."""
        if self.timed_out:
            return f"`{self.command}` was stopped at its time limit"
        if self.flooded:
            return f"`{self.command}` was stopped: it printed more than the output cap"
        if self.passed:
            return f"`{self.command}` passed"
        return f"`{self.command}` failed (exit {self.exit_code})"


def shown_command(argv: Sequence[str]) -> str:
    """A command as the user would type it."""
    return shlex.join(argv)


def kill_group(group: int) -> None:
    """SIGKILL every process of the group; a group already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


async def run_check(
    argv: Sequence[str], scratch: Scratch, timeout_s: float, max_output_bytes: int, shown: str | None = None
) -> CheckResult:
    """Run the command in the scratch copy and return how it ended; on cancel too, its whole group is killed."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=scratch.root,
        env=scratch.environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    group = process.pid
    output = bytearray()
    flooded = False

    async def read_all() -> None:
        nonlocal flooded
        assert process.stdout is not None
        while block := await process.stdout.read(READ_BLOCK):
            if flooded:
                continue  # read to the end, so that the pipe closes
            output.extend(block[: max(0, max_output_bytes - len(output))])
            if len(output) >= max_output_bytes:
                flooded = True
                kill_group(group)

    async def leader_exit() -> None:
        # Process.wait() also waits for the pipe, which a forked child may hold open: watch the exit code instead.
        while process.returncode is None:
            await asyncio.sleep(EXIT_POLL_S)

    reader = asyncio.ensure_future(read_all())
    waiter = asyncio.ensure_future(leader_exit())
    try:
        done, _ = await asyncio.wait({reader, waiter}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        kill_group(group)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), DRAIN_S)
    finally:
        kill_group(group)
        waiter.cancel()
        if process.returncode is None:
            # os.kill, not process.kill: Popen.kill polls first, which can reap the child before asyncio's watcher
            # does, and asyncio then reports exit code 255 for a check that passed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), DRAIN_S)
        # The pipe read to its end (on cancel too) closes the process's transport now, not when it is collected.
        await asyncio.wait({reader}, timeout=PIPE_CLOSE_S)
        reader.cancel()
        if reader.done() and not reader.cancelled():
            reader.exception()
    text = output.decode("utf-8", errors="replace")
    return CheckResult(shown or shown_command(argv), process.returncode, text, not done, flooded)


def workspace_relative(path: Path, workspace: Path) -> Path:
    """The file's path inside the workspace."""
    return path.resolve().relative_to(workspace.resolve())
