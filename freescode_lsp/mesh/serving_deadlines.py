"""Deadlines for slow clients: a request's headers and its body must each arrive in time, or the connection closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, ClassVar

from attrs import define
from uvicorn.protocols.http.h11_impl import H11Protocol


def _ignore(line: str) -> None:
    """Drop a log line."""


@define(frozen=True)
class Deadlines:
    """How long a request's headers and body may take, how fast a body must come, and where the reports go.

    `min_body_rate` (bytes per second, 0: none) is checked over each `rate_window_s` of a body: a body that
    brings fewer bytes in one window, while the server is reading it, is cut.
    """

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    log_line: Callable[[str], None] = _ignore
    min_body_rate: float = 0.0
    rate_window_s: float = 5.0


class DeadlineMixin(asyncio.Protocol):
    """Closes a connection of a uvicorn HTTP protocol whose request headers or body do not arrive in time.

    The header deadline runs from the moment the connection waits for a request (opened, or the previous
    response sent); the body deadline from the end of the headers. Each connection closed in the middle of
    a request, and each client that leaves in the middle of a body, is logged in one line; an idle one is
    closed quietly. It goes before uvicorn's h11 or httptools protocol class, whose attributes it reads.
    """

    deadlines: ClassVar[Deadlines] = Deadlines()
    cycle: Any
    transport: Any
    loop: Any
    flow: Any
    client: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._deadline: asyncio.TimerHandle | None = None
        self._window: asyncio.TimerHandle | None = None
        self._phase: tuple[str, int] = ("", 0)
        self._phase_since = 0.0
        self._received = 0
        self._window_mark = 0
        self._expired = False
        self._partial = False
        super().connection_made(transport)
        self._follow()

    def data_received(self, data: bytes) -> None:
        self._partial = True
        self._received += len(data)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]  # the h11 or httptools protocol's
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._phase[0] == "body" and not self._expired:
            self.deadlines.log_line(f"a client from {self.peer()} left before its request body ended")
        self._disarm()
        self._phase = ("closed", 0)
        super().connection_lost(exc)

    @property
    def phase(self) -> tuple[str, float]:
        """What the connection waits for ("headers", "body", "answer" or "closed") and since when (loop time)."""
        return self._phase[0], self._phase_since

    def _follow(self) -> None:
        """Arm the deadline of the phase the connection is in now, when it has just entered it."""
        cycle: Any = self.cycle
        if self.transport.is_closing():
            phase = ("closed", 0)
        elif cycle is None or cycle.response_complete:
            phase = ("headers", id(cycle))
        elif cycle.more_body and not cycle.disconnected:
            phase = ("body", id(cycle))
        else:
            phase = ("answer", id(cycle))
        if phase == self._phase:
            return
        self._phase = phase
        self._phase_since = self.loop.time()
        self._partial = False
        self._disarm()
        seconds = {"headers": self.deadlines.header_timeout_s, "body": self.deadlines.body_timeout_s}.get(phase[0])
        if seconds is not None:
            self._deadline = self.loop.call_later(seconds, self._expire, phase[0], seconds)
        if phase[0] == "body" and self.deadlines.min_body_rate > 0:
            self._window_mark = self._received
            self._window = self.loop.call_later(self.deadlines.rate_window_s, self._check_rate)

    def _disarm(self) -> None:
        for timer in (self._deadline, self._window):
            if timer is not None:
                timer.cancel()
        self._deadline = self._window = None

    def _check_rate(self) -> None:
        """Cut a body that brought too few bytes in the last window, unless the server was not reading it."""
        self._window = None
        if self._phase[0] != "body" or self.transport.is_closing():
            return
        window = self.deadlines.rate_window_s
        brought = self._received - self._window_mark
        self._window_mark = self._received
        if brought < self.deadlines.min_body_rate * window and not self.flow.read_paused:
            rate = self.deadlines.min_body_rate
            self._cut("slow_body", f"its request body came at {brought / window:.0f} bytes/s, under {rate:g}")
            return
        self._window = self.loop.call_later(window, self._check_rate)

    def _expire(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if what == "body" or self._partial:
            self._cut(f"{what}_timeout", f"its request {what} did not arrive within {seconds:g} s")
        else:
            self._expired = True
            self.closed_for("idle")
            self.transport.close()

    def _cut(self, reason: str, why: str) -> None:
        """Close a connection in the middle of a request, saying why in the log."""
        self._expired = True
        self.deadlines.log_line(f"closed a connection from {self.peer()}: {why}")
        self.closed_for(reason)
        self.transport.close()

    def closed_for(self, reason: str) -> None:
        """Called just before the protocol closes the connection itself; `reason` names why."""

    def peer(self) -> str:
        """The client's address, for the log."""
        return self.client[0] if self.client else "an unknown address"


class DeadlineH11Protocol(DeadlineMixin, H11Protocol):
    """uvicorn's h11 protocol (pure Python), with the deadlines."""


def fast_base() -> type[DeadlineMixin]:
    """The deadline protocol on httptools (a C parser, less CPU per request) when it is installed, else on h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return DeadlineH11Protocol
    return type("DeadlineHttpToolsProtocol", (DeadlineMixin, HttpToolsProtocol), {})


def deadline_protocol(deadlines: Deadlines, base: type[DeadlineMixin] = DeadlineH11Protocol) -> type[DeadlineMixin]:
    """The protocol class to give uvicorn.Config(http=...), with these deadlines."""
    return type(base.__name__, (base,), {"deadlines": deadlines})
