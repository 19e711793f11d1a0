"""Helpers for test servers run as real processes that print `PORT n` once they listen."""

from __future__ import annotations

import select
import subprocess
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from freescode_lsp.mesh import serving

T = TypeVar("T")


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


def wait_for(check: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll `check` until it returns something truthy; fail after a generous timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; last value {value!r}")
        time.sleep(0.05)
