"""The node gateway against clients that try to take it offline: idle or dripping connections, many connections
from one address, slow uploads, ambiguous request framing, and /health asked in a loop."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freescode_lsp.mesh.serving_guard import ACCEPT_BATCHES, MIN_WAIT_S, OWN_FILES, ConnectionLimits
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.slow_clients import hold, request_head
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.testing.waiting import wait_for

HOSTILE = "127.0.0.2"
CHAT = {"model": "stub-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}


@pytest.fixture
def stub() -> Iterator[StubNode]:
    """A stub engine."""
    node = start_stub_node()
    yield node
    node.stop()


def samples(gateway: NodeProcess) -> dict[str, float]:
    """The gateway's /metrics samples by `name{labels}`."""
    found = {}
    for line in gateway.http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def open_files(gateway: NodeProcess) -> int:
    """How many files the gateway process holds open."""
    return len(os.listdir(f"/proc/{gateway.pid}/fd"))


def closed(reason: str) -> str:
    """The /metrics sample of connections the gateway closed for `reason`."""
    return f'freescode_node_connections_closed_total{{reason="{reason}"}}'


def status_of(answer: bytes) -> int | None:
    """The status of the first response in raw bytes, None without one."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if answer.startswith(b"HTTP/1.1 ") and len(parts) > 1 and parts[1].isdigit() else None


def read_until_closed(sock: socket.socket, timeout_s: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_request_with_both_lengths_is_refused_and_its_connection_closed(tmp_path: Path, stub: StubNode) -> None:
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url)
    try:
        smuggled = b"0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(smuggled)}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
            sock.sendall(head + smuggled)
            answer = read_until_closed(sock)
        assert status_of(answer) == 400, answer[:200]
        assert answer.count(b"HTTP/1.1 ") == 1, "the request after the ambiguous one must not be answered"
        assert stub.records() == []
        assert samples(gateway)[closed("bad_request")] == 1
    finally:
        gateway.stop()


async def test_idle_dripping_and_slow_upload_connections_are_closed(tmp_path: Path, stub: StubNode) -> None:
    gateway = await asyncio.to_thread(start_gateway, tmp_path, "--model", "stub-model", "--engine-url", stub.url)
    try:
        idle, headers, body = await asyncio.gather(
            *(hold(gateway.port, kind, HOSTILE, hold_s=40) for kind in ("idle", "slow_headers", "slow_body"))
        )
        assert not (idle.open_at_end or headers.open_at_end or body.open_at_end), "a connection outlived 40 s"
        assert idle.answers == [b""], "an idle connection is closed quietly"
        assert status_of(headers.answers[0]) == 408 and status_of(body.answers[0]) == 408
        found = await asyncio.to_thread(samples, gateway)
        assert (found[closed("idle")], found[closed("headers_timeout")], found[closed("slow_body")]) == (1, 1, 1)
        assert stub.records() == []
    finally:
        await asyncio.to_thread(gateway.stop)


async def test_slow_uploads_take_no_slot_and_no_queue_place(tmp_path: Path, stub: StubNode) -> None:
    gateway = await asyncio.to_thread(
        start_gateway, tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--max-concurrent", "1", "--queue", "1"
    )
    try:
        before = open_files(gateway)
        uploads = [asyncio.ensure_future(hold(gateway.port, "slow_body", HOSTILE, hold_s=40)) for _ in range(3)]
        await asyncio.to_thread(wait_for, lambda: open_files(gateway) >= before + 3, "the gateway to accept the uploads")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            honest = [await client.post("/v1/chat/completions", json=CHAT) for _ in range(3)]
        assert [answer.status_code for answer in honest] == [200, 200, 200]
        held = await asyncio.gather(*uploads)
        assert [status_of(upload.answers[0]) for upload in held] == [408, 408, 408]
        assert len(stub.records()) == 3, "only the honest requests reach the engine"
    finally:
        await asyncio.to_thread(gateway.stop)


def _from(source: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=source), timeout=30)


async def test_one_address_holds_at_most_its_share_of_connections(tmp_path: Path, stub: StubNode) -> None:
    gateway = await asyncio.to_thread(
        start_gateway,
        tmp_path,
        "--model",
        "stub-model",
        "--engine-url",
        stub.url,
        "--max-connections-per-client",
        "4",
        "--max-concurrent",
        "4",
        "--header-timeout-s",
        "60",
    )
    try:
        idle = [asyncio.ensure_future(hold(gateway.port, "idle", HOSTILE, hold_s=60)) for _ in range(4)]
        await asyncio.to_thread(wait_for, lambda: samples(gateway)["freescode_node_connections"] >= 5, "4 idle ones")
        await asyncio.sleep(MIN_WAIT_S)
        async with _from(HOSTILE) as client:
            answer = await client.post(f"{gateway.url}/v1/chat/completions", json=CHAT)
        assert answer.status_code == 200, "a new connection takes the place of one that waits for nothing"
        done, _ = await asyncio.wait(idle, return_when=asyncio.FIRST_COMPLETED)
        assert [task.result().answers for task in done] == [[b""]]
        await asyncio.to_thread(stub.set_script, {"default": {"chunks": ["held"], "hold": True}})
        async with _from(HOSTILE) as client:
            busy = [asyncio.ensure_future(client.post(f"{gateway.url}/v1/chat/completions", json=CHAT)) for _ in range(4)]
            await asyncio.to_thread(wait_for, lambda: len(stub.records()) == 5, "four requests held at the engine")
            with socket.create_connection(("127.0.0.1", gateway.port), source_address=(HOSTILE, 0)) as sock:
                refused = await asyncio.to_thread(read_until_closed, sock)
            await asyncio.to_thread(stub.release)
            assert [response.status_code for response in await asyncio.gather(*busy)] == [200] * 4
        assert status_of(refused) == 503, "with every connection of the address busy, a new one is refused"
        found = await asyncio.to_thread(samples, gateway)
        assert found[closed("refused")] == 1 and found[closed("evicted")] >= 4
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            assert (await client.post("/v1/chat/completions", json=CHAT)).status_code == 200, "other addresses still get in"
    finally:
        for task in idle:
            task.cancel()
        await asyncio.gather(*idle, return_exceptions=True)
        await asyncio.to_thread(gateway.stop)


def test_uploads_beyond_the_body_budget_are_refused_at_once(tmp_path: Path, stub: StubNode) -> None:
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--max-concurrent", "1")
    size, sent = 15 * 1024 * 1024, 14 * 1024 * 1024
    sockets = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(4)]

    def upload(sock: socket.socket) -> None:
        try:
            sock.sendall(request_head(gateway.port, size) + b" " * sent)
            read_until_closed(sock, 60)
        except OSError:
            pass

    threads = [threading.Thread(target=upload, args=(sock,), daemon=True) for sock in sockets]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        found = samples(gateway)
        over_budget = found.get('freescode_node_requests_total{endpoint="chat/completions",status="503"}', 0)
        assert over_budget >= 1, "four bodies of 14 MiB at once must not all be held under a 32 MiB budget"
        assert over_budget + found[closed("slow_body")] == 4, found
        assert stub.records() == []
    finally:
        for sock in sockets:
            sock.close()
        gateway.stop()


def ask_until_served(gateway: NodeProcess, attempts: int = 10) -> httpx.Response:
    """A request from a client that honours Retry-After when the gateway has no room for it yet."""
    for _ in range(attempts):
        try:
            with httpx.Client(timeout=30) as client:
                answer = client.post(f"{gateway.url}/v1/chat/completions", json=CHAT)
        except httpx.ReadError:
            time.sleep(1)
            continue
        if answer.status_code != 503:
            return answer
        time.sleep(float(answer.headers.get("retry-after", "1")))
    pytest.fail(f"no room for an honest request after {attempts} attempts")


def test_an_idle_flood_beyond_the_open_file_limit_leaves_room_for_honest_requests(tmp_path: Path, stub: StubNode) -> None:
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url)
    limit, flood = 400, 450
    resource.prlimit(gateway.pid, resource.RLIMIT_NOFILE, (limit, limit))
    sockets = []
    try:
        for n in range(flood):
            source = f"127.0.2.{1 + n // 30}"
            sockets.append(socket.create_connection(("127.0.0.1", gateway.port), source_address=(source, 0)))
        answer = ask_until_served(gateway)
        assert answer.status_code == 200
        assert "Too many open files" not in gateway.log()
        cap = limit - OWN_FILES - ACCEPT_BATCHES * ConnectionLimits().backlog
        assert samples(gateway)["freescode_node_connections"] <= cap + 1, "the flood was held beyond the total cap"
    finally:
        for sock in sockets:
            sock.close()
        gateway.stop()


class CountingEngine(http.server.ThreadingHTTPServer):
    """An engine that answers GET /v1/models and counts how often it was asked."""

    def __init__(self) -> None:
        self.asked = 0
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server: Any = self.server
            server.asked += 1
            body = json.dumps({"object": "list", "data": [{"id": "stub-model", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass


def test_health_is_answered_without_asking_the_engine(tmp_path: Path) -> None:
    engine = CountingEngine()
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", engine.url)
    try:
        before = engine.asked
        for _ in range(50):
            health = gateway.http.get("/health")
            assert health.status_code == 200 and health.json()["engine"] == "ok"
        assert engine.asked - before <= 2, f"50 /health requests asked the engine {engine.asked - before} times"
        assert health.json()["engine_answered_s_ago"] is not None
    finally:
        gateway.stop()
        engine.shutdown()
        engine.server_close()
