"""Stalled uploads against a gateway: dripping, stalled after 14 MiB, or oversized, then one honest request.

Bodies are read before a request takes a slot, under one byte budget, and cut when they come too slowly: the
uploads hold no slot, the gateway's memory stays within the budget, and the honest request is served at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import select
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx

from chaos.common import CampaignResult, rss_kb
from chaos.gateway_load import MODEL, chat
from freescode_lsp.mesh.node.gateway import BODY_BUDGET_BYTES, BODY_TIMEOUT_S, MAX_BODY_BYTES
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.stub_node import StubNode, start_stub_node

KINDS = ("oversized 40 MiB", "drip", "stalled 14 MiB of 15")
CHUNK = 1 << 20
DRIP_S = 0.5
GIVE_UP_S = 120.0
SLOTS = 4
RSS_SLACK_KB = 32 * 1024
HONEST_BOUND_S = 15.0
ANSWERS = (408, 413, 503)


class Upload:
    """One POST whose body never arrives whole; `status` is what the gateway answered, `seconds` when."""

    def __init__(self, port: int, kind: str) -> None:
        self.port = port
        self.kind = kind
        self.status: int | None = None
        self.seconds = 0.0
        self.finished = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Connect and start sending."""
        self._thread.start()

    def stop(self) -> None:
        """Give up and close the connection."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _head(self, length: int) -> bytes:
        return (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        ).encode()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=GIVE_UP_S) as sock:
                with contextlib.suppress(OSError):
                    self._send(sock)
                self.status = self._answer(sock)
        except OSError:
            pass
        finally:
            self.seconds = time.monotonic() - started
            self.finished.set()

    def _send(self, sock: socket.socket) -> None:
        """Send the hostile part of the body; return as soon as the gateway answers or the run stops."""
        if self.kind == "drip":
            sock.sendall(self._head(4096) + b'{"model": "')
            while not self._stop.is_set() and not _readable(sock, DRIP_S):
                sock.sendall(b"x")
            return
        size = 15 * CHUNK if self.kind.startswith("stalled") else 40 * CHUNK
        sock.sendall(self._head(size))
        left = 14 * CHUNK if self.kind.startswith("stalled") else size
        block = b" " * CHUNK
        while left and not self._stop.is_set() and not _readable(sock, 0):
            _, writable, _ = select.select([], [sock], [], 0.2)
            if writable:
                left -= sock.send(block[: min(left, CHUNK)])

    def _answer(self, sock: socket.socket) -> int | None:
        """The status the gateway answers, waiting until the run stops."""
        while not self._stop.is_set():
            if _readable(sock, 0.2):
                line = sock.recv(4096).split(b"\r\n", 1)[0].split(b" ")
                return int(line[1]) if len(line) > 1 and line[1].isdigit() else None
        return None


def _readable(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the peer has sent something (or closed) within the timeout."""
    ready, _, _ = select.select([sock], [], [], timeout_s)
    return bool(ready)


async def stalled_uploads(home: Path, count: int) -> CampaignResult:
    """`count` slow, stalled or oversized uploads against SLOTS slots, then one honest request, timed."""
    result = CampaignResult("gateway stalled uploads")
    started = time.monotonic()
    engine = await asyncio.to_thread(start_stub_node, {"models": [MODEL]})
    directory = Path(tempfile.mkdtemp(prefix="gateway-", dir=home))
    try:
        gateway = await asyncio.to_thread(
            start_gateway,
            directory,
            "--model",
            MODEL,
            "--engine-url",
            engine.url,
            "--max-concurrent",
            str(SLOTS),
            "--queue",
            "16",
        )
    except BaseException:
        engine.stop()
        raise
    try:
        await _stall(engine, gateway, count, result)
    finally:
        await asyncio.to_thread(gateway.stop)
        await asyncio.to_thread(engine.stop)
    result.seconds = time.monotonic() - started
    return result


async def _stall(engine: StubNode, gateway: NodeProcess, count: int, result: CampaignResult) -> None:
    pid = gateway.process.pid
    deadline_s = BODY_TIMEOUT_S * math.ceil(count / SLOTS) + 15
    honest_bound_s = HONEST_BOUND_S
    async with httpx.AsyncClient(base_url=gateway.url, timeout=deadline_s + 30) as client:
        await client.post("/v1/chat/completions", json=chat("warm up", stream=False))
        await asyncio.to_thread(engine.clear)
        before = peak = rss_kb(pid)
        uploads = [Upload(gateway.port, KINDS[n % len(KINDS)]) for n in range(count)]
        for upload in uploads:
            upload.start()
        await asyncio.sleep(1.0)
        asked = time.monotonic()
        honest = asyncio.ensure_future(client.post("/v1/chat/completions", json=chat("honest", stream=False)))
        until = asked + deadline_s
        while time.monotonic() < until and not (honest.done() and all(u.finished.is_set() for u in uploads)):
            peak = max(peak, rss_kb(pid))
            await asyncio.sleep(0.1)
        waited = time.monotonic() - asked if not honest.done() else None
        answer = honest.result() if honest.done() and not honest.exception() else None
        if not honest.done():
            honest.cancel()
    for upload in uploads:
        upload.stop()
    after = rss_kb(pid)
    honest_s = answer.elapsed.total_seconds() if answer is not None else waited or deadline_s
    for n, upload in enumerate(uploads):
        result.tried += 1
        if upload.status not in ANSWERS:
            result.fail(
                n,
                f"{upload.kind}: answered {upload.status} after {upload.seconds:.1f} s, not one of {ANSWERS}",
            )
    admitted_kb = (BODY_BUDGET_BYTES + MAX_BODY_BYTES) // 1024
    if peak - before > admitted_kb + RSS_SLACK_KB:
        result.fail(count, f"the gateway's RSS grew from {before} kB to a peak of {peak} kB")
    if answer is None or answer.status_code != 200 or honest_s > honest_bound_s:
        status = answer.status_code if answer is not None else "no answer"
        result.fail(
            count,
            f"the honest request got {status} after {honest_s:.1f} s (bound {honest_bound_s:.0f} s)",
        )
    strays = [r["body"] for r in await asyncio.to_thread(engine.records) if r["body"] != chat("honest", stream=False)]
    if strays:
        result.fail(count, f"{len(strays)} stalled uploads reached the engine")
    result.figures.update(
        {
            "rss_mib_before": round(before / 1024, 1),
            "rss_mib_peak": round(peak / 1024, 1),
            "rss_mib_after": round(after / 1024, 1),
            "honest_seconds": round(honest_s, 2),
            "engine_requests": len(await asyncio.to_thread(engine.records)),
        }
    )
    kinds = ", ".join(f"{u.kind} {u.status} in {u.seconds:.1f} s" for u in uploads)
    result.notes.append(
        f"{count} uploads on {SLOTS} slots: {kinds}; honest request {honest_s:.1f} s"
        f" (bound {honest_bound_s:.0f} s); RSS {before / 1024:.0f} -> peak {peak / 1024:.0f} -> {after / 1024:.0f} MiB"
    )
