"""Who may list a node: only the operator whose gateway proves, with that operator's token, that it runs it.

A real registry process, real `freescode node serve` gateways and stub nodes, all on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import StubNode
from freescode_lsp.wire.ownership import new_nonce, ownership_key, proves

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token", "carol": "carol-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}
MODEL = "mistral-7b"
PROBE_S = 0.3


def post_node(registry: RegistryProcess, url: str, headers: dict[str, str], price: float = 0.0005) -> httpx.Response:
    """POST a registration of `url` serving MODEL."""
    body = {"url": url, "models": [MODEL], "price_per_1k": price, "context": 8192}
    return registry.http.post("/v1/nodes", json=body, headers=headers)


def message(response: httpx.Response) -> str:
    """The message of a JSON error answer."""
    return str(response.json()["error"]["message"])


def hosts(registry: RegistryProcess) -> list[tuple[str, float]]:
    """The (url, price) of every host listed for MODEL."""
    found = registry.http.get(f"/v1/models/{MODEL}").json()["available_hosts"]
    return [(host["url"], host["price_per_1k"]) for host in found]


def nodes(registry: RegistryProcess) -> list[tuple[str, str, str]]:
    """(node id, url, operator) of every registration."""
    return [(n["node_id"], n["url"], n["operator"]) for n in registry.http.get("/v1/nodes").json()["data"]]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """A registry with alice's, bob's and carol's tokens, loopback nodes allowed, fast probes."""
    process = start_registry(tmp_path / "registry.sqlite3", tokens=TOKENS, probe_interval_s=PROBE_S)
    yield process
    process.stop()


@pytest.fixture
def alices_gateway(tmp_path: Path, registry: RegistryProcess, stub_node: StubNode) -> Iterator[NodeProcess]:
    """A real gateway in front of a stub engine, registering itself with alice's token."""
    stub_node.set_script({"models": [MODEL]})
    args = ("--model", MODEL, "--engine-url", stub_node.url, "--registry", registry.url, "--price-per-1k", "0.002")
    gateway = start_gateway(tmp_path, *args, env={"FREESCODE_OPERATOR_TOKEN": TOKENS["alice"]})
    yield gateway
    gateway.stop()


def test_another_operator_cannot_list_a_gateway_it_does_not_run(registry: RegistryProcess, alices_gateway: NodeProcess) -> None:
    listed = wait_for(lambda: hosts(registry), "alice's gateway to register itself and be listed")
    assert listed == [(alices_gateway.url, 0.002)]
    [(node_id, _, owner)] = nodes(registry)
    assert owner == "alice"

    port = alices_gateway.port
    for spelling in (alices_gateway.url, f"http://localhost:{port}", f"http://[::ffff:127.0.0.1]:{port}/v1"):
        taken = post_node(registry, spelling, BOB, price=0.0001)
        assert taken.status_code == 403, (spelling, taken.text)
        assert taken.json()["error"]["type"] == "forbidden"
        assert "did not prove that operator 'bob' runs it" in message(taken)
        assert "only a `freescode node serve` gateway registering with this operator's own token" in message(taken)
    assert "ownership proof was not made with its operator's token" in message(post_node(registry, alices_gateway.url, BOB))
    assert nodes(registry) == [(node_id, alices_gateway.url, "alice")]
    assert hosts(registry) == [(alices_gateway.url, 0.002)]

    again = post_node(registry, alices_gateway.url, ALICE, price=0.003)
    assert again.status_code == 201, again.text
    assert again.json()["node_id"] == node_id
    assert wait_for(lambda: hosts(registry) == [(alices_gateway.url, 0.003)], "alice's own price to be listed")


def test_a_gateway_proves_only_with_its_operators_token(tmp_path: Path, stub_node: StubNode) -> None:
    stub_node.set_script({"models": [MODEL]})
    unreachable_registry = "http://127.0.0.1:9"
    keys_file = tmp_path / "client-keys"
    keys_file.write_text("client-key\n")
    args = ("--model", MODEL, "--engine-url", stub_node.url, "--api-keys", str(keys_file))
    with start_gateway(
        tmp_path, *args, "--registry", unreachable_registry, env={"FREESCODE_OPERATOR_TOKEN": TOKENS["alice"]}
    ) as gw:
        nonce = new_nonce()
        endpoint = gw.url
        answer = gw.http.get("/freescode/ownership", params={"nonce": nonce, "endpoint": endpoint})
        assert answer.status_code == 200, answer.text
        proof = answer.json()["proof"]
        alice = [ownership_key(TOKENS["alice"])]
        assert proves(alice, nonce, endpoint, proof)
        assert not proves([ownership_key(TOKENS["bob"])], nonce, endpoint, proof)
        assert not proves(alice, new_nonce(), endpoint, proof)
        assert not proves(alice, nonce, "http://127.0.0.1:1", proof)
        assert TOKENS["alice"] not in answer.text
        assert hashlib.sha256(TOKENS["alice"].encode()).hexdigest() not in answer.text
        for bad in ({"nonce": "not hex", "endpoint": endpoint}, {"nonce": nonce}, {"nonce": nonce, "endpoint": "ftp://x"}):
            assert gw.http.get("/freescode/ownership", params=bad).status_code == 400
        assert gw.http.get("/v1/models").status_code == 401, "the challenge needs no key; the API still does"
    with start_gateway(tmp_path, "--model", MODEL, "--engine-url", stub_node.url) as unregistered:
        refused = unregistered.http.get("/freescode/ownership", params={"nonce": nonce, "endpoint": unregistered.url})
        assert refused.status_code == 404
        assert "no registry token" in refused.json()["error"]["message"]


def test_a_bare_engine_cannot_be_registered(registry: RegistryProcess, stub_node: StubNode) -> None:
    stub_node.set_script({"models": [MODEL]})
    refused = post_node(registry, stub_node.url, ALICE)
    assert refused.status_code == 403, refused.text
    assert message(refused).startswith(
        f"{stub_node.url} did not prove that operator 'alice' runs it (GET /freescode/ownership answered 404)"
    )
    assert nodes(registry) == []


def test_the_endpoint_belongs_to_the_operator_whose_node_proves_it(registry: RegistryProcess, stub_node: StubNode) -> None:
    stub_node.set_script({"models": [MODEL], "operator_token": TOKENS["alice"]})
    created = post_node(registry, stub_node.url, ALICE)
    assert created.status_code == 201, created.text
    alices = created.json()["node_id"]
    wait_for(lambda: hosts(registry), "alice's node to be listed")
    assert post_node(registry, stub_node.url, BOB).status_code == 403

    stub_node.set_script({"models": [MODEL], "operator_token": TOKENS["bob"]})
    taken = post_node(registry, f"http://localhost:{stub_node.port}", BOB, price=0.0001)
    assert taken.status_code == 201, taken.text
    assert nodes(registry) == [(taken.json()["node_id"], f"http://localhost:{stub_node.port}", "bob")]
    assert registry.http.post(f"/v1/nodes/{alices}/heartbeat", json={}, headers=ALICE).status_code == 404
    refused = post_node(registry, stub_node.url, ALICE)
    assert refused.status_code == 403
    assert wait_for(lambda: hosts(registry) == [(f"http://localhost:{stub_node.port}", 0.0001)], "bob's listing")


def test_a_node_that_stops_proving_its_operator_is_unlisted(registry: RegistryProcess, stub_node: StubNode) -> None:
    stub_node.set_script({"models": [MODEL], "operator_token": TOKENS["alice"]})
    created = post_node(registry, stub_node.url, ALICE)
    assert created.status_code == 201, created.text
    node_id = created.json()["node_id"]
    wait_for(lambda: hosts(registry), "alice's node to be listed")

    stub_node.set_script({"models": [MODEL], "operator_token": TOKENS["carol"]})
    wait_for(lambda: not hosts(registry), "a probe to find the node no longer answers for alice")
    status = registry.http.get(f"/v1/nodes/{node_id}", headers=ALICE).json()
    assert status["probe_error"] == "the node's ownership proof was not made with its operator's token"
    stub_node.set_script({"models": [MODEL], "operator_token": TOKENS["alice"]})
    wait_for(lambda: hosts(registry), "alice's node to be listed again")


class ChallengeServer(ThreadingHTTPServer):
    """A loopback node that answers ownership challenges with whatever `answer(nonce, endpoint)` returns."""

    def __init__(self, answer: Callable[[str, str], Any]) -> None:
        self.answer = answer
        self.challenges: list[tuple[str, str]] = []
        super().__init__(("127.0.0.1", 0), _ChallengeHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def __enter__(self) -> ChallengeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


class _ChallengeHandler(BaseHTTPRequestHandler):
    server: ChallengeServer

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        nonce, endpoint = query.get("nonce", [""])[0], query.get("endpoint", [""])[0]
        self.server.challenges.append((nonce, endpoint))
        body = json.dumps(self.server.answer(nonce, endpoint)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_a_replayed_or_relabelled_proof_is_refused(registry: RegistryProcess, stub_node: StubNode) -> None:
    stub_node.set_script({"operator_token": TOKENS["alice"]})

    def alices_stub(nonce: str, endpoint: str) -> dict[str, Any]:
        return dict(httpx.get(f"{stub_node.url}/freescode/ownership", params={"nonce": nonce, "endpoint": endpoint}).json())

    old_nonce = new_nonce()
    with ChallengeServer(lambda nonce, endpoint: alices_stub(old_nonce, endpoint)) as replaying:
        refused = post_node(registry, replaying.url, ALICE)
        assert refused.status_code == 403, refused.text
        assert "ownership proof was not made with its operator's token" in message(refused)
        [(sent_nonce, sent_endpoint)] = replaying.challenges
        assert sent_nonce != old_nonce and sent_endpoint == replaying.url
    with ChallengeServer(lambda nonce, endpoint: alices_stub(nonce, "http://127.0.0.1:1")) as relabelling:
        assert post_node(registry, relabelling.url, ALICE).status_code == 403
    with ChallengeServer(lambda nonce, endpoint: {"proof": 7}) as garbled:
        assert post_node(registry, garbled.url, ALICE).status_code == 403
    with ChallengeServer(alices_stub) as relaying:
        assert post_node(registry, relaying.url, BOB).status_code == 403
        accepted = post_node(registry, relaying.url, ALICE)
        assert accepted.status_code == 201, accepted.text
    assert [operator for _, _, operator in nodes(registry)] == ["alice"]


def test_a_gateway_the_registry_cannot_reach_at_its_public_url_says_why_it_is_not_listed(
    tmp_path: Path, registry: RegistryProcess, stub_node: StubNode
) -> None:
    stub_node.set_script({"models": [MODEL]})
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = ("--model", MODEL, "--engine-url", stub_node.url, "--registry", registry.url, "--public-url", nowhere)
    with start_gateway(tmp_path, *args, env={"FREESCODE_OPERATOR_TOKEN": TOKENS["alice"]}) as gateway:
        wait_for(lambda: "check it is yours" in gateway.log(), "the gateway to say why it is not registered")
        log = gateway.log()
        assert f"{nowhere} did not prove that operator 'alice' runs it (cannot connect)" in log
        assert f"the registry must reach this gateway at {nowhere} to check it is yours (see --public-url)" in log
        assert gateway.http.get("/health").status_code == 200, "the gateway keeps serving"
    assert nodes(registry) == []


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
