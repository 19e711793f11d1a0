"""The root of the errors Free-S_Code raises on purpose, and what routing needs to know about each."""

from __future__ import annotations


class FreescodeError(Exception):
    """A failure Free-S_Code explains in its message; subclasses say whether it rests the host that caused it."""

    rests_host: bool = False
    """Whether the failure says the host is down, stalled or overloaded (not that the request was bad)."""

    retry_after: float | None = None
    """Seconds the host asked to be left alone (HTTP Retry-After), when it said."""
