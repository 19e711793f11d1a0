"""Hostile operators and nodes against the registry: aliases, starved challenges and probes, huge answers, slow clients."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from freescode_lsp.cli import build_parser
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.raw_node import BANNER_WORD, RawNode, closed_by_peer, open_slow
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import start_stub_node

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}
RUN_BY_ALICE = {"operator_token": TOKENS["alice"]}
RUN_BY_BOB = {"operator_token": TOKENS["bob"]}
PROBE_S = 0.3
MODEL = "mistral-7b"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """A registry with alice's and bob's tokens, loopback nodes allowed, fast probes."""
    process = start_registry(tmp_path / "registry.sqlite3", tokens=TOKENS, probe_interval_s=PROBE_S)
    yield process
    process.stop()


def post_node(registry: RegistryProcess, url: str, headers: dict[str, str], **fields: Any) -> httpx.Response:
    """POST a registration of `url` serving MODEL."""
    body = {"url": url, "models": [MODEL], "price_per_1k": 0.0005, "context": 8192, **fields}
    return registry.http.post("/v1/nodes", json=body, headers=headers)


def register(registry: RegistryProcess, url: str, headers: dict[str, str] = ALICE, **fields: Any) -> str:
    """Register a node and return its id."""
    response = post_node(registry, url, headers, **fields)
    assert response.status_code == 201, response.text
    return str(response.json()["node_id"])


def status(registry: RegistryProcess, node_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The registry's view of one node, as its owner sees it when `headers` carry the owner's token."""
    response = registry.http.get(f"/v1/nodes/{node_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def probed(registry: RegistryProcess, node_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The node's status once it has been probed."""
    return wait_for(lambda: (found := status(registry, node_id, headers))["probed_at"] and found, "a probe")


def hosts(registry: RegistryProcess) -> list[str]:
    """The URLs listed for MODEL."""
    return [host["url"] for host in registry.http.get(f"/v1/models/{MODEL}").json()["available_hosts"]]


def message(response: httpx.Response) -> str:
    """The message of a JSON error answer."""
    return str(response.json()["error"]["message"])


def test_aliases_of_a_registered_endpoint_cannot_be_taken_by_another_operator(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL], **RUN_BY_ALICE})
    port = stub_node.port
    node_id = register(registry, stub_node.url)
    aliases = [
        f"HTTP://127.0.0.1:{port}",
        f"http://localhost:{port}",
        f"http://127.0.0.2:{port}",
        f"http://127.0.0.1:0{port}",
        f"http://127.0.0.1:{port}/./",
        f"http://127.0.0.1:{port}/x/../v1/",
        f"http://[::ffff:127.0.0.1]:{port}",
        f"http://[::1]:{port}",
        f"http://127.1:{port}",
        f"http://0x7f.0.0.1:{port}",
        f"http://LocalHost.:{port}//",
    ]
    for alias in aliases:
        taken = post_node(registry, alias, BOB, price_per_1k=0.0001)
        assert taken.status_code == 403, (alias, taken.text)
        assert "did not prove that operator 'bob' runs it" in message(taken)
    unspecified = post_node(registry, f"http://0.0.0.0:{port}", BOB)
    assert unspecified.status_code == 422
    assert message(unspecified).startswith("'url' 0.0.0.0 is a special-purpose address (this network, 0.0.0.0/8)")
    again = post_node(registry, f"HTTP://localhost:0{port}/./v1", ALICE)
    assert again.status_code == 201, again.text
    assert again.json()["node_id"] == node_id
    nodes = registry.http.get("/v1/nodes").json()["data"]
    assert [(n["node_id"], n["url"], n["operator"]) for n in nodes] == [(node_id, f"http://localhost:{port}", "alice")]
    assert wait_for(lambda: hosts(registry), "the node to be listed") == [f"http://localhost:{port}"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9\t001",
        "http://127.0.0.1:9001\t",
        " http://127.0.0.1:9001",
        "http://127.0.0.1:9001\n",
        "http://127.0.0.1:90\r01/",
        "http://127.0.0.1:9001/a b",
        "http://127.0.0.1:9001/\x00",
        "http://127.0.0.1:9001/%2e%2e/",
        "http://[fe80::1%25eth0]:9001",
        "http://exa\u00e9mple.com:9001",
    ],
)
def test_urls_with_whitespace_control_characters_or_escapes_are_refused(registry: RegistryProcess, url: str) -> None:
    refused = post_node(registry, url, ALICE)
    assert refused.status_code == 422, refused.text
    assert message(refused).startswith("'url' ")
    assert registry.http.get("/v1/nodes").json() == {"data": []}


def test_a_stored_url_the_prober_cannot_use_does_not_stop_it(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL], **RUN_BY_ALICE})
    honest = register(registry, stub_node.url)
    wait_for(lambda: hosts(registry), "the honest node to be listed")
    with sqlite3.connect(registry.db) as db:
        db.execute(
            "INSERT INTO nodes (node_id, owner, url, models, price_per_1k, context, revision, registered_at,"
            " last_seen) VALUES ('node-old', 'bob', ?, ?, 0, 4096, 0, ?, ?)",
            ("http://127.0.0.1:9\t001", f'["{MODEL}"]', time.time(), time.time() + 3600),
        )
    assert probed(registry, "node-old", BOB)["probe_error"].startswith("not probed: ")
    stub_node.stop()
    wait_for(lambda: not hosts(registry), "the dead node to be unlisted", timeout=10)
    assert status(registry, honest, ALICE)["probe_error"] == "cannot connect"


def post_alone(registry: RegistryProcess, url: str, headers: dict[str, str]) -> httpx.Response:
    """POST a registration on a connection of its own, waiting as long as the registry takes."""
    body = {"url": url, "models": [MODEL], "price_per_1k": 0.0005, "context": 8192}
    return httpx.post(f"{registry.url}/v1/nodes", json=body, headers=headers, timeout=120)


def test_dripping_nodes_do_not_starve_an_honest_operator(tmp_path: Path, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL], **RUN_BY_ALICE})
    slow_probes = ("--probe-timeout-s", "60")
    with (
        start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, probe_interval_s=PROBE_S, extra_args=slow_probes) as registry,
        RawNode("drip") as drip,
        ThreadPoolExecutor(4) as pool,
    ):
        pending = [pool.submit(post_alone, registry, f"{drip.url}/drip{i}", BOB) for i in range(4)]
        wait_for(lambda: drip.connections >= 4, "bob's four ownership challenges to be under way")
        busy = post_node(registry, f"{drip.url}/drip4", BOB)
        assert busy.status_code == 429, busy.text
        assert busy.headers["retry-after"] == "5"
        assert message(busy) == "operator 'bob' already has 4 registrations being checked; retry shortly"
        register(registry, stub_node.url)
        wait_for(lambda: hosts(registry), "the honest node to be listed")
        assert not [future for future in pending if future.done()], "bob's challenges are still dripping"
        assert drip.connections == 4
        drip.close()
        answers = [future.result() for future in pending]
        assert [answer.status_code for answer in answers] == [403] * 4
        assert all("(the connection failed (RemoteProtocolError))" in message(answer) for answer in answers)
        assert [n["operator"] for n in registry.http.get("/v1/nodes").json()["data"]] == ["alice"]


def peak_rss_kb(pid: int) -> int:
    """A process's peak resident memory in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_huge_answer_is_not_read_into_memory(registry: RegistryProcess, stub_node: Any) -> None:
    before = peak_rss_kb(registry.pid)
    with RawNode("huge", size=100 * 1024 * 1024) as huge:
        refused = post_node(registry, huge.url, ALICE)
    assert refused.status_code == 403
    assert "(GET /freescode/ownership answered more than 4 KiB)" in message(refused)
    assert peak_rss_kb(registry.pid) - before < 30_000

    many = [f"model-{i:06d}-{'x' * 48}" for i in range(20_000)]
    stub_node.set_script({"models": [MODEL, *many], **RUN_BY_ALICE})
    found = probed(registry, register(registry, stub_node.url), ALICE)
    assert found["probe_error"] == "GET /v1/models answered more than 1024 KiB"


def test_an_operator_holds_a_bounded_number_of_nodes(tmp_path: Path, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL], **RUN_BY_BOB})
    limit = ("--max-nodes-per-operator", "2")
    with (
        start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, extra_args=limit) as registry,
        start_stub_node({"models": [MODEL], **RUN_BY_BOB}) as second,
        start_stub_node({"models": [MODEL], **RUN_BY_ALICE}) as alices,
        RawNode("missing") as third,
    ):
        first = register(registry, stub_node.url, BOB)
        register(registry, second.url, BOB)
        refused = post_node(registry, third.url, BOB)
        assert refused.status_code == 409
        assert (
            message(refused) == "operator 'bob' already has 2 nodes registered, the most this registry allows; delete one first"
        )
        assert third.connections == 0, "a registration over the limit never reaches the node"
        assert register(registry, stub_node.url, BOB, price_per_1k=0.001) == first
        register(registry, alices.url, ALICE)
        assert registry.http.delete(f"/v1/nodes/{first}", headers=BOB).status_code == 200
        assert register(registry, stub_node.url, BOB) != first
        assert len(registry.http.get("/v1/nodes").json()["data"]) == 3


def test_probe_errors_are_short_and_shown_only_to_the_owner(registry: RegistryProcess, stub_node: Any) -> None:
    with RawNode("banner", size=5000) as banner:
        refused = post_node(registry, banner.url, ALICE)
    assert refused.status_code == 403
    assert "(GET /freescode/ownership answered 500)" in message(refused)
    assert BANNER_WORD.split()[0] not in refused.text

    stub_node.set_script({"models": [MODEL], "health_status": 503, **RUN_BY_ALICE})
    node_id = register(registry, stub_node.url)
    found = probed(registry, node_id, ALICE)
    public = registry.http.get("/v1/nodes")
    bob = registry.http.get(f"/v1/nodes/{node_id}", headers=BOB)
    bad_token = registry.http.get("/v1/nodes", headers={"Authorization": "Bearer wrong"})
    assert found["probe_error"] == "GET /health answered 503"
    assert found["unlisted"] == {MODEL: "last probe failed: GET /health answered 503"}
    [seen] = public.json()["data"]
    assert (seen["probe_ok"], seen["probe_error"], seen["unlisted"]) == (False, None, {MODEL: "last probe failed"})
    assert bob.json()["probe_error"] is None
    assert bad_token.status_code == 401


def test_the_registry_is_never_listed_as_a_node(registry: RegistryProcess) -> None:
    refused = post_node(registry, registry.url, ALICE)
    assert refused.status_code == 403
    assert "(the URL is a registry, not a node)" in message(refused)
    assert registry.http.get("/v1/nodes").json() == {"data": []}


def test_slow_clients_are_cut_off_and_logged_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    deadlines = ("--header-timeout-s", "1", "--body-timeout-s", "1")
    with start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, stderr=log, extra_args=deadlines) as registry:
        head = f"POST /v1/nodes HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {TOKENS['alice']}\r\n".encode()
        slow_headers = [open_slow(registry.port, head[: 10 + i]) for i in range(30)]
        stalled = [open_slow(registry.port, head + b'Content-Length: 1000\r\n\r\n{"url":') for _ in range(5)]
        started = time.monotonic()
        dripping = slow_headers[:5]
        while time.monotonic() - started < 3.0:
            for sock in dripping:
                if not closed_by_peer(sock):
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")
            time.sleep(0.2)
        still_open = [sock for sock in slow_headers + stalled if not closed_by_peer(sock)]
        assert registry.http.get("/health").status_code == 200
        for sock in slow_headers + stalled:
            sock.close()
    lines = log.read_text().splitlines()
    assert still_open == []
    assert sum("its request headers did not arrive within 1 s" in line for line in lines) == 30
    assert sum("its request body did not arrive within 1 s" in line for line in lines) == 5
    assert not [line for line in lines if "Traceback" in line or line.startswith(" ")]


def test_a_client_leaving_mid_body_is_logged_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "registry.log"
    with start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, stderr=log) as registry:
        head = f"POST /v1/nodes HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {TOKENS['alice']}\r\n".encode()
        for _ in range(3):
            sock = open_slow(registry.port, head + b'Content-Length: 1000\r\n\r\n{"url": "http://')
            time.sleep(0.2)
            sock.close()
        wait_for(lambda: log.read_text().count("left before its request body ended") == 3, "three log lines", 5)
        assert registry.http.get("/health").status_code == 200
    lines = log.read_text().splitlines()
    assert [re.sub(r"\d+\.\d+\.\d+\.\d+", "ADDR", line) for line in lines if "left before" in line] == [
        "freescode registry: a client from ADDR left before its request body ended"
    ] * 3
    assert not [line for line in lines if "Traceback" in line or line.startswith(" ")]


def test_the_defaults_suit_a_public_registry(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["registry", "serve"])
    assert (args.allow_loopback_nodes, args.allow_private_nodes, args.max_nodes_per_operator) == (False, False, 16)
    assert (args.header_timeout_s, args.body_timeout_s, args.probe_timeout_s) == (10.0, 10.0, 3.0)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["registry", "serve", "--max-nodes-per-operator", "0"])
    assert "'0' must be at least 1" in capsys.readouterr().err
