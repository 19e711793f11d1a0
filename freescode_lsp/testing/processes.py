"""Helpers for test servers run as real processes that print `PORT n` once they listen."""

from __future__ import annotations

import select
import subprocess
import time

from freescode_lsp.mesh import serving
from freescode_lsp.testing.waiting import wait_for as wait_for


def read_port(process: subprocess.Popen[str], deadline: float, what: str) -> int:
    """The port a starting process announces, or RuntimeError saying what it said instead."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
    line = process.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        process.kill()
        process.wait(timeout=5)
        raise RuntimeError(f"{what} did not start (said {line!r}, exit code {process.returncode})")
    return int(line.split()[1])


def stop_process(process: subprocess.Popen[str], grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL after a grace period; closes its stdout; returns the exit code."""
    code = serving.stop_process(process, grace_s)
    if process.stdout is not None:
        process.stdout.close()
    return code
