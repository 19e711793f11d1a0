"""Waiting for an event in a test: poll a check until it holds, and fail after a generous bound that says what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")
POLL_S = 0.02
DEFAULT_TIMEOUT_S = 30.0


def wait_for(check: Callable[[], T], what: str, timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """Poll `check` until it returns something truthy and return that; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last value {value!r}")
        time.sleep(POLL_S)


async def until(check: Callable[[], T], what: str = "the check to hold", timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """`wait_for` on the running event loop: the loop keeps serving the client while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last value {value!r}")
        await asyncio.sleep(POLL_S)


async def until_answered(ask: Callable[[], Awaitable[T]], what: str, timeout: float = DEFAULT_TIMEOUT_S) -> T:
    """Ask again (a request to the server, say) until the answer is truthy and return it; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await ask()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last answer {value!r}")
        await asyncio.sleep(POLL_S)
