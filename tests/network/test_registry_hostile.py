"""Hostile operators and nodes against the registry: aliases, prober starvation, scanning, slow clients."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from freescode_lsp.cli import build_parser
from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    AddressPolicy,
    allowed_addresses,
    endpoint_keys,
    parse_node_url,
)
from freescode_lsp.mesh.registry.app import RegistryApp
from freescode_lsp.mesh.registry.auth import OperatorTokens
from freescode_lsp.mesh.registry.probe import probe_node
from freescode_lsp.mesh.registry.prober import RegistrySettings
from freescode_lsp.mesh.registry.store import RegistryStore
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.raw_node import BANNER_WORD, RawNode, closed_by_peer, open_slow
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}
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


def test_aliases_of_a_registered_endpoint_belong_to_its_operator(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL]})
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
        f"http://0.0.0.0:{port}",
        f"http://127.1:{port}",
        f"http://0x7f.0.0.1:{port}",
        f"http://LocalHost.:{port}//",
    ]
    for alias in aliases:
        taken = post_node(registry, alias, BOB, price_per_1k=0.0001)
        assert taken.status_code == 409, (alias, taken.text)
        assert "is registered by another operator" in message(taken)
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
    stub_node.set_script({"models": [MODEL]})
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


def test_dripping_nodes_do_not_starve_an_honest_node(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": [MODEL]})
    with RawNode("drip") as drip:
        slow = [register(registry, f"{drip.url}/drip{i}", BOB) for i in range(16)]
        wait_for(lambda: drip.connections >= 4, "the dripping nodes to be probed")
        started = time.monotonic()
        register(registry, stub_node.url)
        wait_for(lambda: hosts(registry), "the honest node to be listed", timeout=5)
        listed_s = time.monotonic() - started
        stub_node.stop()
        started = time.monotonic()
        wait_for(lambda: not hosts(registry), "the dead node to be unlisted", timeout=8)
        unlisted_s = time.monotonic() - started
        assert probed(registry, slow[0], BOB)["probe_error"] == "no complete answer within 3 s"
    assert listed_s < 2.0
    assert unlisted_s < 5.0


def peak_rss_kb(pid: int) -> int:
    """A process's peak resident memory in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_a_huge_model_list_is_not_read_into_memory(registry: RegistryProcess) -> None:
    before = peak_rss_kb(registry.process.pid)
    with RawNode("huge", size=100 * 1024 * 1024) as huge:
        node_id = register(registry, huge.url)
        found = probed(registry, node_id, ALICE)
    assert found["probe_error"] == "GET /v1/models answered more than 1024 KiB"
    assert peak_rss_kb(registry.process.pid) - before < 30_000


def test_an_operator_holds_a_bounded_number_of_nodes(registry: RegistryProcess) -> None:
    for i in range(16):
        register(registry, f"http://127.0.0.1:9/n{i}", BOB)
    refused = post_node(registry, "http://127.0.0.1:9/n16", BOB)
    assert refused.status_code == 409
    assert message(refused) == ("operator 'bob' already has 16 nodes registered, the most this registry allows; delete one first")
    first = register(registry, "http://127.0.0.1:9/n0", BOB, price_per_1k=0.001)
    register(registry, "http://127.0.0.1:9/other", ALICE)
    assert registry.http.delete(f"/v1/nodes/{first}", headers=BOB).status_code == 200
    register(registry, "http://127.0.0.1:9/n16", BOB)
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 17


def test_probe_errors_are_short_and_shown_only_to_the_owner(registry: RegistryProcess) -> None:
    with RawNode("banner", size=5000) as banner:
        node_id = register(registry, banner.url)
        found = probed(registry, node_id, ALICE)
        public = registry.http.get("/v1/nodes")
        bob = registry.http.get(f"/v1/nodes/{node_id}", headers=BOB)
        bad_token = registry.http.get("/v1/nodes", headers={"Authorization": "Bearer wrong"})
    assert found["probe_error"] == "GET /v1/models answered 500"
    assert found["unlisted"] == {MODEL: "last probe failed: GET /v1/models answered 500"}
    assert BANNER_WORD.split()[0] not in public.text
    [seen] = public.json()["data"]
    assert (seen["probe_ok"], seen["probe_error"], seen["unlisted"]) == (False, None, {MODEL: "last probe failed"})
    assert bob.json()["probe_error"] is None
    assert bad_token.status_code == 401


def test_the_registry_is_never_listed_as_a_node(registry: RegistryProcess) -> None:
    node_id = register(registry, registry.url)
    found = probed(registry, node_id, ALICE)
    assert (found["probe_ok"], found["probe_error"]) == (False, "the URL is a registry, not a node")
    assert hosts(registry) == []


REFUSED_BY_DEFAULT = [
    ("http://127.0.0.1:22", "127.0.0.1 is a loopback address, which this registry does not probe"),
    ("http://127.0.0.2:22", "127.0.0.2 is a loopback address"),
    ("http://[::1]:22", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:22", "127.0.0.1 is a loopback address"),
    ("http://0.0.0.0:22", "0.0.0.0 is a loopback address"),
    ("http://localhost:22", "'localhost' resolves to "),
    ("http://10.0.0.1", "10.0.0.1 is a private address"),
    ("http://192.168.1.1:8080", "192.168.1.1 is a private address"),
    ("http://[fd00::1]:8080", "fd00::1 is a private address"),
    ("http://100.64.0.1", "100.64.0.1 is a private address"),
    ("http://169.254.169.254", "169.254.169.254 is a link-local address, which this registry does not probe"),
    ("http://[fe80::1]:80", "fe80::1 is a link-local address"),
    ("http://224.0.0.1", "224.0.0.1 is a reserved address"),
    ("http://255.255.255.255", "255.255.255.255 is a reserved address"),
]


def test_a_public_registry_refuses_loopback_and_private_addresses_before_connecting(tmp_path: Path) -> None:
    with (
        RawNode("silent") as listener,
        start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, allow_loopback=False) as registry,
    ):
        for url, reason in [(listener.url, "127.0.0.1 is a loopback address"), *REFUSED_BY_DEFAULT]:
            refused = post_node(registry, url, ALICE)
            assert refused.status_code == 422, (url, refused.text)
            assert message(refused).startswith(f"'url' {reason}"), message(refused)
        assert "--allow-loopback-nodes" in message(post_node(registry, "http://127.0.0.1:22", ALICE))
        assert "--allow-private-nodes" in message(post_node(registry, "http://10.0.0.1", ALICE))
        assert registry.http.get("/v1/nodes").json() == {"data": []}
        time.sleep(PROBE_S)
        assert listener.connections == 0


def test_a_registry_for_a_private_network_still_refuses_link_local(tmp_path: Path) -> None:
    with start_registry(
        tmp_path / "r.sqlite3", tokens=TOKENS, allow_loopback=False, extra_args=("--allow-private-nodes",)
    ) as registry:
        assert post_node(registry, "http://127.0.0.1:22", ALICE).status_code == 422
        assert post_node(registry, "http://169.254.169.254", ALICE).status_code == 422
        assert post_node(registry, "http://10.0.0.1:8080", ALICE).status_code == 201


def resolver_of(table: dict[str, list[str]]) -> Any:
    """A resolver answering from a table, so no test ever asks DNS."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("unknown host")
        return table[host]

    return resolve


def refusing_transport(calls: list[httpx.Request]) -> httpx.MockTransport:
    """A transport that records every request it is asked to send and answers 599."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(599)

    return httpx.MockTransport(handler)


async def test_a_name_is_checked_by_the_addresses_it_resolves_to() -> None:
    resolve = resolver_of({"intranet.test": ["10.1.2.3"], "mixed.test": ["1.1.1.1", "127.0.0.1"]})
    policy = AddressPolicy()
    with pytest.raises(AddressError, match="'intranet.test' resolves to 10.1.2.3, a private address"):
        await allowed_addresses(parse_node_url("http://intranet.test:8080"), policy, resolve, 1.0)
    with pytest.raises(AddressError, match="resolves to 127.0.0.1, a loopback address"):
        await allowed_addresses(parse_node_url("http://mixed.test"), policy, resolve, 1.0)
    with pytest.raises(AddressError, match="could not be resolved"):
        await allowed_addresses(parse_node_url("http://nowhere.test"), policy, resolve, 1.0)
    private = AddressPolicy(allow_private=True)
    allowed = await allowed_addresses(parse_node_url("http://intranet.test"), private, resolve, 1.0)
    assert allowed == [ipaddress.ip_address("10.1.2.3")]


async def test_a_probe_is_refused_before_connecting_when_the_name_now_points_inside() -> None:
    calls: list[httpx.Request] = []
    resolve = resolver_of({"rebinding.test": ["10.9.8.7"]})
    async with httpx.AsyncClient(transport=refusing_transport(calls)) as client:
        result = await probe_node(
            "http://rebinding.test:8080",
            [MODEL],
            None,
            policy=AddressPolicy(),
            resolver=resolve,
            client=client,
            timeout_s=1.0,
        )
    assert (result.ok, result.error) == (
        False,
        "not probed: 'rebinding.test' resolves to 10.9.8.7, a private address,"
        " which this registry does not probe (a registry started with"
        " --allow-private-nodes does)",
    )
    assert calls == []


async def test_a_probe_connects_to_the_address_it_checked() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        models = request.url.path.endswith("/v1/models")
        answer = {"data": [{"id": MODEL}, {"id": "other"}]} if models else {"status": "ok"}
        return httpx.Response(200, stream=httpx.ByteStream(json.dumps(answer).encode()))

    resolve = resolver_of({"node.test": ["127.0.0.1"]})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await probe_node(
            "http://node.test:8080/gw",
            [MODEL, "code-llama-7b"],
            "k",
            policy=AddressPolicy(allow_loopback=True),
            resolver=resolve,
            client=client,
            timeout_s=1.0,
        )
    assert (result.ok, result.served, result.error) == (True, (MODEL,), None)
    assert [str(r.url) for r in seen] == ["http://127.0.0.1:8080/gw/v1/models", "http://127.0.0.1:8080/gw/health"]
    assert {r.headers["host"] for r in seen} == {"node.test:8080"}
    assert {r.headers["authorization"] for r in seen} == {"Bearer k"}


async def test_registering_a_name_that_points_inside_is_refused_before_any_connection(tmp_path: Path) -> None:
    resolve = resolver_of({"intranet.test": ["192.168.7.7"]})
    store = RegistryStore(tmp_path / "r.sqlite3")
    app = RegistryApp(store, OperatorTokens([("alice", "alice-secret-token")]), RegistrySettings(), resolve)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.starlette()), base_url="http://r") as http:
            body = {"url": "http://intranet.test:8080", "models": [MODEL], "price_per_1k": 0, "context": 4096}
            refused = await http.post("/v1/nodes", json=body, headers=ALICE)
            assert refused.status_code == 422
            assert message(refused) == (
                "'url' 'intranet.test' resolves to 192.168.7.7, a private address, which this registry does not probe"
                " (a registry started with --allow-private-nodes does)"
            )
            assert refused.headers["x-freescode-registry"] == "1"
            assert store.nodes() == []
    finally:
        store.close()


def test_endpoint_keys_make_every_spelling_of_one_endpoint_collide() -> None:
    loopback = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    spellings = ["http://127.0.0.1:9001", "http://[::1]:9001/v1", "http://127.0.0.9:09001/./"]
    keys = [set(endpoint_keys(parse_node_url(url), ())) for url in spellings]
    keys.append(set(endpoint_keys(parse_node_url("http://localhost:9001"), loopback)))
    assert all(key & keys[0] for key in keys)
    assert not set(endpoint_keys(parse_node_url("http://127.0.0.1:9001/other"), ())) & keys[0]
    public = [ipaddress.ip_address("1.1.1.1")]
    assert endpoint_keys(parse_node_url("https://alice.example"), public) == ["name:alice.example:443"]


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
