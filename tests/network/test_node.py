"""The node gateway as a real process on 127.0.0.1: in front of a stub node, of the real gemma, with a registry."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from freescode_lsp.cli import main
from freescode_lsp.engines.base import GenerationRequest, Message
from freescode_lsp.engines.remote import NodeUnreachable, RemoteEngine
from freescode_lsp.mesh.node.limits import Busy, Limiter
from freescode_lsp.mesh.node.tally import Tally
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.testing.waiting import wait_for

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0
ALICE = {"Authorization": "Bearer alice-key"}
BOB = {"Authorization": "Bearer bob-key"}
BOB_LABEL = "key-" + hashlib.sha256(b"bob-key").hexdigest()[:12]
OPERATOR_TOKEN = "operator-secret"
GEMMA = "gemma-3-270m"


def chat(text: str = "fix this bug", stream: bool = True, **extra: Any) -> dict[str, Any]:
    """A chat request body."""
    return {"model": "stub-model", "messages": [{"role": "user", "content": text}], "stream": stream, **extra}


def sse_data(text: str) -> list[Any]:
    """The data of every SSE event, JSON-decoded except `[DONE]`."""
    events = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    return [event if event == "[DONE]" else json.loads(event) for event in events]


def event_texts(events: list[Any]) -> list[str]:
    """The text pieces of streamed chat or completion events."""
    found = []
    for event in events:
        if isinstance(event, dict) and event.get("choices"):
            choice = event["choices"][0]
            text = (choice.get("delta") or {}).get("content") or choice.get("text")
            if text:
                found.append(text)
    return found


def metrics(gateway: NodeProcess) -> dict[str, float]:
    """The gateway's /metrics samples by `name{labels}`."""
    response = gateway.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def usage_json(ledger: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """What `freescode node usage --json` prints."""
    capsys.readouterr()
    assert main(["node", "usage", "--ledger", str(ledger), "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def keys_by_name(ledger: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    """The usage per key."""
    return {entry["key"]: entry for entry in usage_json(ledger, capsys)["keys"]}


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def answers(url: str) -> bool:
    """Whether anything answers HTTP at this URL."""
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def stub() -> Iterator[StubNode]:
    """A stub node of the test's own, so that a test may stop it."""
    node = start_stub_node()
    yield node
    node.stop()


@pytest.fixture
def keys_file(tmp_path: Path) -> Path:
    """Two client keys: alice's named one and an unnamed one."""
    path = tmp_path / "client-keys"
    path.write_text("# client keys\nalice:alice-key\nbob-key\n")
    return path


@pytest.fixture
def gateway(tmp_path: Path, stub: StubNode, keys_file: Path) -> Iterator[NodeProcess]:
    """A gateway with client keys in front of the stub, priced at 2 per 1000 tokens."""
    process = start_gateway(
        tmp_path,
        "--model",
        "stub-model",
        "--engine-url",
        stub.base_url,
        "--api-keys",
        str(keys_file),
        "--price-per-1k",
        "2",
    )
    yield process
    process.stop()


def test_stream_passes_through_chunk_by_chunk(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["one", " two", " three"], "delay_s": 1.5}})
    seen_while_streaming = []
    lines = []
    with gateway.http.stream("POST", "/v1/chat/completions", json=chat(), headers=ALICE) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            lines.append(line)
            if '"one"' in line:
                seen_while_streaming.append(stub.records()[-1]["outcome"])
    assert seen_while_streaming == [None], "the first piece arrived only after the stub had sent the last"
    events = sse_data("\n".join(lines))
    assert event_texts(events) == ["one", " two", " three"]
    assert events[-1] == "[DONE]"
    assert events[-2]["usage"]["completion_tokens"] == 3
    record = stub.records()[-1]
    assert record["body"] == {**chat(), "stream_options": {"include_usage": True}}
    assert "authorization" not in record["headers"], "the client's key must not reach the engine"


def test_the_engine_is_asked_for_usage_whatever_the_client_says(
    gateway: NodeProcess, stub: StubNode, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.set_script({"default": {"chunks": ["ab", "cd"], "usage": {"prompt_tokens": 7, "completion_tokens": 30}}})
    body = chat(stream_options={"include_usage": False, "other": 1})
    response = gateway.http.post("/v1/chat/completions", json=body, headers=ALICE)
    assert response.status_code == 200
    wanted = {"key": "alice", "requests": 1, "prompt_tokens": 7, "completion_tokens": 30, "earnings": 0.074}
    found = wait_for(lambda: keys_by_name(gateway.ledger, capsys).get("alice"), "the ledger row")
    assert found == wanted
    assert stub.requests()[-1] == {**body, "stream_options": {"include_usage": True, "other": 1}}


def test_an_engine_refusing_stream_options_gets_the_clients_body(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["ok"], "reject_stream_options": True}})
    for _ in range(2):
        response = gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE)
        assert response.status_code == 200
        assert event_texts(sse_data(response.text)) == ["ok"]
    sent = stub.requests()
    assert sent == [{**chat(), "stream_options": {"include_usage": True}}, chat(), chat()]
    assert "refused stream_options" in gateway.log()


def test_statuses_and_bodies_pass_through(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"status": 418, "error_message": "no tea here"}})
    direct = httpx.post(f"{stub.base_url}/chat/completions", json=chat())
    through = gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE)
    assert through.status_code == 418
    assert through.content == direct.content
    assert through.json()["error"]["message"] == "no tea here"
    stub.set_script({"default": {"chunks": ["Hel", "lo"]}})
    whole = gateway.http.post("/v1/completions", json={"model": "m", "prompt": "say hi", "stream": False}, headers=BOB)
    assert whole.status_code == 200
    assert whole.json()["choices"][0]["text"] == "Hello"
    assert stub.requests()[-1] == {"model": "m", "prompt": "say hi", "stream": False}
    models = gateway.http.get("/v1/models", headers=BOB)
    assert models.status_code == 200
    assert [model["id"] for model in models.json()["data"]] == ["stub-model"]


def test_client_keys_are_enforced(gateway: NodeProcess, stub: StubNode, keys_file: Path) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "alice-key"}):
        for method, path in (("POST", "/v1/chat/completions"), ("GET", "/v1/models")):
            response = gateway.http.request(method, path, json=chat() if method == "POST" else None, headers=headers)
            assert response.status_code == 401, (headers, path)
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    assert stub.records() == []
    assert gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE).status_code == 200
    keys_file.write_text("alice:alice-key\nbob-key\ncarol-key\n")
    carol = {"Authorization": "Bearer carol-key"}
    assert gateway.http.post("/v1/chat/completions", json=chat(), headers=carol).status_code == 200


def test_usage_ledger_counts_per_key(gateway: NodeProcess, stub: StubNode, capsys: pytest.CaptureFixture[str]) -> None:
    stub.set_script(
        {
            "queue": [
                {"chunks": ["a", "b", "c"], "usage": {"prompt_tokens": 7, "completion_tokens": 3}},
                {"chunks": ["a", "b"], "usage": {"prompt_tokens": 5, "completion_tokens": 2}},
                {"chunks": ["x", "y", "z", "w"], "format": "llama-cpp-python"},
            ]
        }
    )
    for headers, body in ((ALICE, chat()), (ALICE, chat()), (BOB, chat("twelve chars"))):
        response = gateway.http.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 200
    wanted = {
        "alice": {"key": "alice", "requests": 2, "prompt_tokens": 12, "completion_tokens": 5, "earnings": 0.034},
        BOB_LABEL: {"key": BOB_LABEL, "requests": 1, "prompt_tokens": 3, "completion_tokens": 4, "earnings": 0.014},
    }
    found = wait_for(lambda: (k := keys_by_name(gateway.ledger, capsys)) == wanted and k, "the ledger rows")
    assert found == wanted
    total = usage_json(gateway.ledger, capsys)["total"]
    assert total["requests"] == 3 and total["prompt_tokens"] == 15 and total["completion_tokens"] == 9
    assert math.isclose(total["earnings"], 0.048)
    assert main(["node", "usage", "--ledger", str(gateway.ledger)]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^alice\s+2\s+12\s+5\s+0\.034000$", table, re.MULTILINE), table


def test_usage_of_an_empty_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answer = usage_json(tmp_path / "none.sqlite3", capsys)
    assert answer["keys"] == [] and answer["total"]["requests"] == 0


async def until_done(futures: list[asyncio.Future[Any]], count: int) -> None:
    """Return once `count` of the futures are done."""
    while sum(future.done() for future in futures) < count:
        await asyncio.sleep(0.02)


async def test_concurrency_limit_answers_429_with_retry_after(tmp_path: Path, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["slow"], "hold": True}})
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--max-concurrent", "1", "--queue", "1")
    try:
        async with (
            httpx.AsyncClient(base_url=gateway.url, timeout=60) as client,
            client.stream("POST", "/v1/chat/completions", json=chat()) as first,
        ):
            assert first.status_code == 200
            asked = [asyncio.ensure_future(client.post("/v1/chat/completions", json=chat())) for _ in range(4)]
            await asyncio.wait_for(until_done(asked, 3), 30)
            await asyncio.to_thread(stub.release)
            burst = await asyncio.gather(*asked)
            await first.aread()
        statuses = sorted(response.status_code for response in burst)
        assert statuses == [200, 429, 429, 429]
        for refused in (response for response in burst if response.status_code == 429):
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["type"] == "rate_limited"
        assert len(stub.records()) == 2, "refused requests must not reach the engine"
        samples = metrics(gateway)
        assert samples['freescode_node_requests_total{endpoint="chat/completions",status="429"}'] == 3
        assert samples["freescode_node_in_flight"] == 0
    finally:
        gateway.stop()


def test_health_follows_the_engine(tmp_path: Path) -> None:
    stub = start_stub_node()
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url)
    try:
        health = gateway.http.get("/health")
        assert health.status_code == 200
        assert health.json()["model"] == "stub-model" and health.json()["engine"] == "ok"
        stub.stop()
        refused = gateway.http.post("/v1/chat/completions", json=chat())
        assert refused.status_code == 502
        assert refused.json()["error"]["type"] == "engine_unreachable"
        health = gateway.http.get("/health")
        assert health.status_code == 503, "a request the engine did not answer marks it unavailable at once"
        assert health.json()["engine"] == "unavailable" and "does not answer" in health.json()["error"]
        assert metrics(gateway)['freescode_node_errors_total{kind="engine_unreachable"}'] == 1
    finally:
        gateway.stop()
        stub.stop()


def test_health_notices_an_engine_gone_while_nobody_asks(tmp_path: Path) -> None:
    stub = start_stub_node()
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url)
    try:
        assert gateway.http.get("/health").status_code == 200
        stub.stop()
        wait_for(lambda: gateway.http.get("/health").status_code == 503, "the gateway's own check to notice", timeout=60)
    finally:
        gateway.stop()
        stub.stop()


def test_metrics_count_requests_tokens_and_first_tokens(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}})
    for _ in range(2):
        assert gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE).status_code == 200
    assert gateway.http.post("/v1/chat/completions", json=chat()).status_code == 401

    def counted() -> dict[str, float] | None:
        samples = metrics(gateway)
        return samples if samples['freescode_node_tokens_total{model="stub-model",kind="prompt"}'] == 18 else None

    samples = wait_for(counted, "the tokens in /metrics")
    assert samples['freescode_node_requests_total{endpoint="chat/completions",status="200"}'] == 2
    assert samples['freescode_node_requests_total{endpoint="chat/completions",status="401"}'] == 1
    assert samples['freescode_node_tokens_total{model="stub-model",kind="completion"}'] == 4
    assert samples["freescode_node_time_to_first_token_seconds_count"] == 2
    assert samples['freescode_node_time_to_first_token_seconds_bucket{le="+Inf"}'] == 2
    assert samples['freescode_node_errors_total{kind="engine_stream_broken"}'] == 0


def test_a_client_that_leaves_closes_the_engines_stream(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c", "d"], "delay_s": 2}})
    with gateway.http.stream("POST", "/v1/chat/completions", json=chat(), headers=ALICE) as response:
        for line in response.iter_lines():
            if '"a"' in line:
                break
    wait_for(lambda: stub.records()[-1]["outcome"] == "disconnected", "the stub to see the client leave")
    wait_for(
        lambda: metrics(gateway)['freescode_node_errors_total{kind="client_disconnected"}'] == 1,
        "the disconnect in /metrics",
    )
    assert metrics(gateway)["freescode_node_in_flight"] == 0


async def test_an_engine_dying_mid_stream_breaks_the_clients_stream(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c"], "die_after": 2}})
    request = GenerationRequest(model="stub-model", messages=[Message("user", "hi")], max_tokens=16)
    async with RemoteEngine(gateway.url, "alice-key") as engine:
        received = []
        with pytest.raises(NodeUnreachable) as caught:
            async for chunk in engine.stream(request):
                received.append(chunk.text)
    assert received == ["a", "b"]
    assert caught.value.after_first_token
    assert metrics(gateway)['freescode_node_errors_total{kind="engine_stream_broken"}'] == 1


@pytest.mark.parametrize("fmt", ["openai", "vllm", "llama-server", "llama-cpp-python", "ollama"])
def test_an_engine_ending_early_breaks_the_clients_stream(gateway: NodeProcess, stub: StubNode, fmt: str) -> None:
    stub.set_script({"default": {"chunks": ["a\n", "b\n", "c\n", "d\n", "e\n"], "end_after": 2, "format": fmt}})
    lines = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        gateway.http.stream("POST", "/v1/chat/completions", json=chat(), headers=ALICE) as response,
    ):
        assert response.status_code == 200
        lines.extend(response.iter_lines())
    assert event_texts(sse_data("\n".join(lines))) == ["a\n", "b\n"]
    assert stub.records()[-1]["outcome"] == "ended_early"
    assert wait_for(lambda: metrics(gateway)['freescode_node_errors_total{kind="engine_stream_broken"}'] == 1, "it")


def test_an_engine_ending_after_its_finish_reason_ends_cleanly(gateway: NodeProcess, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "no_done": True, "format": "llama-server"}})
    response = gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE)
    assert response.status_code == 200 and event_texts(sse_data(response.text)) == ["a", "b"]
    assert metrics(gateway)['freescode_node_errors_total{kind="engine_stream_broken"}'] == 0


def raw_request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
    """Send a request with its path exactly as given (no dot-segment removal) and return the status."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_only_the_endpoints_it_serves_reach_the_engine(gateway: NodeProcess, stub: StubNode) -> None:
    headers = {**ALICE, "Content-Type": "application/json"}
    body = json.dumps({"model": "stub-model", "name": "some/model", "stream": False}).encode()
    tricks = [
        ("POST", "/v1/../api/pull"),
        ("POST", "/v1/%2e%2e/api/pull"),
        ("POST", "/v1/..%2fapi/pull"),
        ("POST", "/v1/%2E%2E%2Fapi%2Fpull"),
        ("POST", "/v1/chat/../../api/pull"),
        ("GET", "/v1/../slots"),
        ("GET", "/v1/%2e%2e/props"),
        ("GET", "/v1/models/../../slots"),
        ("GET", "/v1/chat/completions"),
        ("POST", "/v1/models"),
        ("POST", "/v1/embeddings"),
    ]
    for method, path in tricks:
        assert raw_request(gateway.port, method, path, body if method == "POST" else b"", headers) == 404, path
    assert stub.records() == []
    assert raw_request(gateway.port, "POST", "/v1/chat/../completions", json.dumps(chat()).encode(), headers) == 200
    assert [(r["method"], r["path"]) for r in stub.records()] == [("POST", "/v1/completions")]


async def test_queued_clients_that_left_are_not_sent_to_the_engine(tmp_path: Path, stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["slow"], "hold": True}})
    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--max-concurrent", "1", "--queue", "8")
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            first = asyncio.ensure_future(client.post("/v1/chat/completions", json=chat("first")))
            await asyncio.to_thread(wait_for, lambda: len(stub.records()) == 1, "the first request")
            impatient = httpx.Timeout(60, read=0.5)
            for n in range(4):
                with pytest.raises(httpx.ReadTimeout):
                    await client.post("/v1/chat/completions", json=chat(f"gone {n}"), timeout=impatient)
            await asyncio.to_thread(stub.release)
            assert (await first).status_code == 200
            await asyncio.sleep(0.5)
            last = await client.post("/v1/chat/completions", json=chat("last"))
            assert last.status_code == 200
        sent = [record["body"]["messages"][0]["content"] for record in stub.records()]
        assert sent == ["first", "last"], "clients that left while queued must not reach the engine"
        samples = metrics(gateway)
        assert samples["freescode_node_in_flight"] == 0 and samples["freescode_node_queued"] == 0
        assert samples['freescode_node_errors_total{kind="client_disconnected"}'] == 4
    finally:
        gateway.stop()


def rss_mib(pid: int) -> float:
    """A process's resident memory in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_stalled_uploads_are_held_under_the_body_budget(tmp_path: Path, stub: StubNode) -> None:
    import threading

    gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--max-concurrent", "1", "--queue", "8")
    size, sent = 15 * 1024 * 1024, 14 * 1024 * 1024
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    sockets = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(10)]

    def upload(sock: socket.socket) -> None:
        try:
            sock.sendall(head + b" " * sent)
            sock.settimeout(60)
            while sock.recv(65536):
                pass
        except OSError:
            pass

    try:
        before = rss_mib(gateway.pid)
        threads = [threading.Thread(target=upload, args=(sock,), daemon=True) for sock in sockets]
        for thread in threads:
            thread.start()
        peak = before
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, rss_mib(gateway.pid))
            time.sleep(0.05)
        assert peak - before < 60, f"stalled uploads took the gateway from {before:.0f} to {peak:.0f} MiB"
        assert stub.records() == []
        samples = metrics(gateway)
        over_budget = samples.get('freescode_node_requests_total{endpoint="chat/completions",status="503"}', 0)
        assert over_budget + samples['freescode_node_connections_closed_total{reason="slow_body"}'] == 10
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        gateway.stop()


def test_registers_heartbeats_and_deregisters(tmp_path: Path, stub: StubNode, keys_file: Path) -> None:
    stub.set_script({"models": [GEMMA]})
    registry = start_registry(tmp_path / "registry.sqlite3", tokens={"op": OPERATOR_TOKEN}, lease_s=1.5, probe_interval_s=0.3)
    gateway = None
    try:
        gateway = start_gateway(
            tmp_path,
            "--model",
            GEMMA,
            "--engine-url",
            stub.url,
            "--api-keys",
            str(keys_file),
            "--registry",
            registry.url,
            "--price-per-1k",
            "0.5",
            "--context",
            "2048",
            env={"FREESCODE_OPERATOR_TOKEN": OPERATOR_TOKEN},
        )
        assert OPERATOR_TOKEN not in " ".join(gateway.process.args)
        listed = wait_for(lambda: _hosts(registry), "the registry to list the gateway")
        assert listed[0]["url"] == gateway.url
        assert listed[0]["price_per_1k"] == 0.5 and listed[0]["context"] == 2048
        probed = metrics(gateway)
        assert probed['freescode_node_requests_total{endpoint="models",status="200"}'] >= 1
        assert 'freescode_node_requests_total{endpoint="models",status="401"}' not in probed, "the probe key works"
        first_seen = listed[0]["last_seen"]
        time.sleep(4.5)
        still = _hosts(registry)
        assert [host["url"] for host in still] == [gateway.url], "heartbeats must keep it listed past the lease"
        assert still[0]["last_seen"] > first_seen
        assert still[0]["load"] == 0
        assert gateway.stop() == 0
        assert registry.http.get("/v1/nodes").json()["data"] == [], "a clean stop deregisters"
        assert "deregistered" in gateway.log()
    finally:
        if gateway is not None:
            gateway.stop()
        registry.stop()


def test_keeps_serving_while_the_registry_is_away(tmp_path: Path, stub: StubNode) -> None:
    stub.set_script({"models": [GEMMA]})
    port = free_port()
    gateway = start_gateway(
        tmp_path,
        "--model",
        GEMMA,
        "--engine-url",
        stub.url,
        "--registry",
        f"http://127.0.0.1:{port}",
        "--token",
        OPERATOR_TOKEN,
    )
    registry = None
    try:
        wait_for(lambda: "registry is unreachable" in gateway.log(), "the gateway to say the registry is away")
        assert gateway.http.get("/health").status_code == 200
        assert gateway.http.post("/v1/chat/completions", json=chat()).status_code == 200
        registry = start_registry(
            tmp_path / "registry.sqlite3",
            tokens={"op": OPERATOR_TOKEN},
            probe_interval_s=0.3,
            extra_args=("--port", str(port)),
        )
        wait_for(lambda: _hosts(registry), "the gateway to register once the registry is up", timeout=90)
    finally:
        gateway.stop()
        if registry is not None:
            registry.stop()


def _hosts(registry: RegistryProcess) -> list[dict[str, Any]]:
    response = registry.http.get(f"/v1/models/{GEMMA}")
    assert response.status_code == 200, response.text
    return list(response.json()["available_hosts"])


def test_fronts_an_engine_that_wants_its_own_key(tmp_path: Path, stub: StubNode, keys_file: Path) -> None:
    stub.set_script({"models": [GEMMA], "api_key": "engine-secret"})
    gateway = start_gateway(
        tmp_path,
        "--model",
        GEMMA,
        "--engine-url",
        stub.url,
        "--api-keys",
        str(keys_file),
        "--engine-api-key-env",
        "MY_ENGINE_KEY",
        env={"MY_ENGINE_KEY": "engine-secret"},
    )
    try:
        assert gateway.http.get("/health").status_code == 200
        answer = gateway.http.post("/v1/chat/completions", json=chat(), headers=ALICE)
        assert answer.status_code == 200, answer.text
        sent = [record["headers"].get("authorization") for record in stub.records()]
        assert sent and set(sent) == {"Bearer engine-secret"}
        assert "engine-secret" not in " ".join(gateway.process.args)
    finally:
        gateway.stop()


def test_refuses_a_missing_engine_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "serve", "--model", "stub-model", "--port", "0"]) == 2
    assert "--gguf" in capsys.readouterr().err
    args = ["node", "serve", "--model", "m", "--engine-url", "http://127.0.0.1:1", "--port", "0"]
    assert main([*args, "--registry", "http://127.0.0.1:1"]) == 2
    assert "FREESCODE_OPERATOR_TOKEN" in capsys.readouterr().err
    assert main([*args, "--engine-api-key-env", "FREESCODE_TEST_UNSET_KEY"]) == 2
    assert "FREESCODE_TEST_UNSET_KEY, which is not set" in capsys.readouterr().err
    assert main([*args, "--api-keys", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_tally_reads_events_split_anywhere() -> None:
    stream = (
        b'data: {"choices": [{"delta": {"role": "assistant"}}]}\r\n\r\n'
        b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
        b": ping\n\n"
        b'data: {"choices": [{"delta": {"content": " there"}}]}\n\n'
        b"data: [DONE]\n\n"
    )
    for cut in range(1, len(stream)):
        tally = Tally(streaming=True, prompt_estimate=4)
        tally.feed(stream[:cut])
        tally.feed(stream[cut:])
        counted = tally.finish()
        assert (counted.prompt_tokens, counted.completion_tokens, counted.estimated) == (4, 2, True), cut
    tally = Tally(streaming=True, prompt_estimate=4)
    tally.feed(stream + b'data: {"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 2}}\n\n')
    assert tally.finish().prompt_tokens == 11


async def test_limiter_queues_then_refuses() -> None:
    limiter = Limiter(max_concurrent=1, queue=1)
    await limiter.acquire()
    waiting = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.load == 2
    with pytest.raises(Busy):
        await limiter.acquire()
    limiter.release(0.5)
    await waiting
    assert (limiter.in_flight, limiter.waiting) == (1, 0)


@pytest.mark.slow
def test_serves_the_real_gemma_and_stops_its_engine(tmp_path: Path, gemma_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = start_gateway(tmp_path, "--model", GEMMA, "--gguf", str(gemma_path), "--context", "2048")
    engine = None
    try:
        engine = gateway.engine()
        assert engine is not None, gateway.log()
        engine_pid, engine_url = engine
        assert pid_alive(engine_pid)
        health = gateway.http.get("/health").json()
        assert health.pop("engine_answered_s_ago") is not None
        assert health == {"model": GEMMA, "engine": "ok", "in_flight": 0, "queued": 0}
        body = {"model": GEMMA, "prompt": "def add(a, b):", "max_tokens": 16, "temperature": 0, "stream": True}
        with gateway.http.stream("POST", "/v1/completions", json=body) as response:
            assert response.status_code == 200
            text = "".join(event_texts(sse_data(response.read().decode())))
        assert text.strip(), "the real model streamed no text"
        samples = wait_for(
            lambda: (s := metrics(gateway))['freescode_node_tokens_total{model="gemma-3-270m",kind="completion"}'] > 0 and s,
            "the tokens in /metrics",
        )
        assert samples["freescode_node_time_to_first_token_seconds_count"] == 1
        served = keys_by_name(gateway.ledger, capsys)["anonymous"]
        assert served["requests"] == 1 and served["completion_tokens"] > 0 and served["prompt_tokens"] > 0
        assert gateway.stop() == 0
        assert not pid_alive(engine_pid)
        assert not answers(f"{engine_url}/v1/models")
    finally:
        gateway.stop()
        if engine is not None and pid_alive(engine[0]):
            os.kill(engine[0], signal.SIGKILL)


@pytest.mark.slow
def test_the_engine_dies_with_a_killed_gateway(tmp_path: Path, gemma_path: Path) -> None:
    gateway = start_gateway(tmp_path, "--model", GEMMA, "--gguf", str(gemma_path), "--context", "512")
    engine = None
    try:
        engine = gateway.engine()
        assert engine is not None, gateway.log()
        gateway.process.kill()
        gateway.process.wait(timeout=10)
        wait_for(lambda: not pid_alive(engine[0]), "the engine to exit after its gateway was killed")
        assert not answers(f"{engine[1]}/v1/models")
    finally:
        gateway.stop()
        if engine is not None and pid_alive(engine[0]):
            os.kill(engine[0], signal.SIGKILL)


def test_setup_script_checks_its_arguments() -> None:
    script = REPO / "setup-node-operator.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    quiet = {name: value for name, value in os.environ.items() if name != "FREESCODE_OPERATOR_TOKEN"}
    for args in ([], ["not-a-url"], ["http://127.0.0.1:8780", "port"], ["http://127.0.0.1:8780", "1", "extra"]):
        done = subprocess.run(
            ["bash", str(script), *args],
            capture_output=True,
            text=True,
            check=False,
            env=quiet,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 2, args
        assert "usage: ./setup-node-operator.sh REGISTRY_URL [PORT]" in done.stderr
        assert done.stdout == ""
    no_token = subprocess.run(
        ["bash", str(script), "http://127.0.0.1:8780"],
        capture_output=True,
        text=True,
        check=False,
        env=quiet,
        stdin=subprocess.DEVNULL,
    )
    assert no_token.returncode == 2
    assert no_token.stderr == "setup-node-operator: set FREESCODE_OPERATOR_TOKEN to your operator token\n"
