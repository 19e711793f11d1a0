"""Connections a server keeps from one client and in all, and requests it refuses before any app sees them.

A new connection over a cap (per client address, an IPv6 /64 counting as one, or in total) takes the place
of one that has waited at least MIN_WAIT_S for its request: over the total cap, one of the address that holds
the most connections; then the one waiting longest, for its headers before one for its body. With no such
connection, the newcomer gets 503 and is closed. The total cap is lowered to leave room under the open-file
limit, for the server's own files and for the connections accepted in a burst before they can be counted.
A request that carries both Content-Length and Transfer-Encoding gets 400 and its connection is closed; one
whose headers or body come too late or too slowly gets 408.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import h11
from attrs import define

from freescode_lsp.mesh.serving_deadlines import DeadlineH11Protocol, Deadlines

OWN_FILES = 64
ACCEPT_BATCHES = 3
MIN_WAIT_S = 1.0
DEFAULT_MAX_INCOMPLETE_EVENT_SIZE = 16 * 1024
EVICTABLE = ("headers", "body")


def open_file_limit() -> int | None:
    """This process's soft limit on open files, None when there is none (or no way to know)."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


@define(frozen=True)
class ConnectionLimits:
    """How many connections one client address, and all clients together, may hold open.

    `backlog` is how many connections the server accepts at once (and the kernel queues): they hold files
    before they can be counted, so the total cap leaves room for ACCEPT_BATCHES of them.
    """

    max_connections: int = 512
    max_per_client: int = 32
    backlog: int = 64

    def total(self) -> int:
        """The total cap, lowered so that the server's own files and accepted bursts fit under the open-file limit."""
        limit = open_file_limit()
        if limit is None:
            return self.max_connections
        return max(1, min(self.max_connections, limit - OWN_FILES - ACCEPT_BATCHES * self.backlog))


def client_group(host: str) -> str:
    """The address a per-client cap counts: the IPv4 address (mapped ones too), an IPv6 /64, else the host."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def raw_error(status: int, reason: str, message: str, extra: str = "") -> bytes:
    """A whole HTTP/1.1 error response with an OpenAI-style JSON body, closing the connection."""
    body = json.dumps({"error": {"message": message, "type": reason.lower().replace(" ", "_"), "code": status}})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"{extra}connection: close\r\n\r\n"
    )
    return (head + body).encode()


class SparseLog:
    """Passes on at most one line per `interval_s`, then says how many it left out, so a flood stays readable."""

    def __init__(self, write: Callable[[str], None], interval_s: float = 1.0) -> None:
        self.write = write
        self.interval_s = interval_s
        self._last = -interval_s
        self._left_out = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            self._left_out += 1
            return
        if self._left_out:
            line += f" ({self._left_out} more such lines left out)"
        self._last, self._left_out = now, 0
        self.write(line)


class StrictConnection(h11.Connection):
    """h11's connection, refusing a request whose body length is ambiguous (Content-Length and Transfer-Encoding)."""

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            names = {name.lower() for name, _ in event.headers}
            if b"content-length" in names and b"transfer-encoding" in names:
                raise h11.RemoteProtocolError("both Content-Length and Transfer-Encoding", error_status_hint=400)
        return event


class ConnectionBook:
    """The open connections with their client groups, and how many the server closed itself, by reason."""

    def __init__(self) -> None:
        self.groups: dict[GuardedH11Protocol, str] = {}
        self.by_group: dict[str, dict[GuardedH11Protocol, None]] = {}
        self.closed: collections.Counter[str] = collections.Counter()

    @property
    def open(self) -> int:
        """Connections open now."""
        return len(self.groups)

    def admit(self, connection: GuardedH11Protocol, group: str, limits: ConnectionLimits, now: float) -> bool:
        """Make room for a new connection by closing ones that wait for their request; False when none can go."""
        caps = ((self.by_group.get(group, {}), limits.max_per_client, False), (self.groups, limits.total(), True))
        for scope, cap, fair in caps:
            while len(scope) >= cap:
                victim = self._victim(scope, now, fair)
                if victim is None:
                    return False
                victim.evict()
        self.groups[connection] = group
        self.by_group.setdefault(group, {})[connection] = None
        return True

    def _victim(self, scope: dict[GuardedH11Protocol, Any], now: float, fair: bool) -> GuardedH11Protocol | None:
        """The connection to close for a newcomer (see the module's doc), None when every one is busy or new."""
        waiting = [c for c in scope if c.phase[0] in EVICTABLE and now - c.phase[1] >= MIN_WAIT_S]
        if not waiting:
            return None

        def order(c: GuardedH11Protocol) -> tuple[int, bool, float]:
            crowd = len(self.by_group[self.groups[c]]) if fair else 0
            return -crowd, c.phase[0] != "headers", c.phase[1]

        return min(waiting, key=order)

    def forget(self, connection: GuardedH11Protocol) -> None:
        """Drop a connection that is closing."""
        group = self.groups.pop(connection, None)
        if group is not None:
            self.by_group[group].pop(connection, None)
            if not self.by_group[group]:
                del self.by_group[group]


class GuardedH11Protocol(DeadlineH11Protocol):
    """The deadline protocol with connection caps, strict body framing, and a 408 for a request that came too late."""

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    book: ClassVar[ConnectionBook]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.config.h11_max_incomplete_event_size
        self.conn = StrictConnection(h11.SERVER, size if size is not None else DEFAULT_MAX_INCOMPLETE_EVENT_SIZE)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        group = client_group(self.client[0] if self.client else "")
        if not self.book.admit(self, group, self.limits, self.loop.time()):
            self.closed_for("refused")
            message = "the node has too many connections open; retry shortly"
            self.transport.write(raw_error(503, "Service Unavailable", message, "retry-after: 1\r\n"))
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.book.forget(self)
        super().connection_lost(exc)

    def evict(self) -> None:
        """Close this connection to make room for a newer one."""
        self.book.forget(self)
        if self.phase[0] == "body":
            self._cut("evicted", "its request body was still coming when a newer connection needed the room")
            return
        self.closed_for("evicted")
        self.transport.close()

    def _cut(self, reason: str, why: str) -> None:
        cycle: Any = self.cycle
        if not self.transport.is_closing() and (cycle is None or not cycle.response_started):
            self.transport.write(raw_error(408, "Request Timeout", f"the request was cut: {why}"))
        super()._cut(reason, why)

    def send_400_response(self, msg: str) -> None:
        self.closed_for("bad_request")
        super().send_400_response(msg)

    def closed_for(self, reason: str) -> None:
        self.book.closed[reason] += 1


def guarded_protocol(deadlines: Deadlines, limits: ConnectionLimits, book: ConnectionBook) -> type[GuardedH11Protocol]:
    """The protocol class to give uvicorn.Config(http=...), with these deadlines, caps and book."""
    attributes = {"deadlines": deadlines, "limits": limits, "book": book}
    return type("GuardedH11Protocol", (GuardedH11Protocol,), attributes)
