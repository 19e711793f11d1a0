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
    """How long a request's headers and body may take, and where the one-line reports go."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    log_line: Callable[[str], None] = _ignore


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers or body do not arrive in time.

    The header deadline runs from the moment the connection waits for a request (opened, or the previous
    response sent); the body deadline from the end of the headers. Each connection closed in the middle of
    a request, and each client that leaves in the middle of a body, is logged in one line; an idle one is
    closed quietly.
    """

    deadlines: ClassVar[Deadlines] = Deadlines()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: tuple[str, int] = ("", 0)
        self._expired = False
        self._partial = False
        super().connection_made(transport)  # type: ignore[arg-type]
        self._follow()

    def data_received(self, data: bytes) -> None:
        self._partial = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._phase[0] == "body" and not self._expired:
            self.deadlines.log_line(f"a client from {self._peer()} left before its request body ended")
        self._disarm()
        self._phase = ("closed", 0)
        super().connection_lost(exc)

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
        self._partial = False
        self._disarm()
        seconds = {"headers": self.deadlines.header_timeout_s, "body": self.deadlines.body_timeout_s}.get(phase[0])
        if seconds is not None:
            self._deadline = self.loop.call_later(seconds, self._expire, phase[0], seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, what: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        self._expired = True
        if what == "body" or self._partial:
            late = f"its request {what} did not arrive within {seconds:g} s"
            self.deadlines.log_line(f"closed a connection from {self._peer()}: {late}")
        self.transport.close()

    def _peer(self) -> str:
        return self.client[0] if self.client else "an unknown address"


def deadline_protocol(deadlines: Deadlines) -> type[DeadlineH11Protocol]:
    """The protocol class to give uvicorn.Config(http=...), with these deadlines."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"deadlines": deadlines})
