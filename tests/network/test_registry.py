"""The registry service as a real process on 127.0.0.1, with stub node processes as the nodes."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from freescode_lsp.cli import build_parser, main
from freescode_lsp.models.catalog import BUILTIN_MODELS
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.wire.registry_client import (
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)

T = TypeVar("T")
TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}
RUN_BY_ALICE = {"operator_token": TOKENS["alice"]}
WAIT_S = 20.0
PROBE_S = 0.3
BUILTIN_IDS = [spec.id for spec in BUILTIN_MODELS]


def hosts(registry: RegistryProcess, model: str) -> list[dict[str, Any]]:
    """The available_hosts of a model."""
    response = registry.http.get(f"/v1/models/{model}")
    assert response.status_code == 200, response.text
    return list(response.json()["available_hosts"])


def node_status(registry: RegistryProcess, node_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The registry's view of one node; with the owner's token it says why a probe failed."""
    response = registry.http.get(f"/v1/nodes/{node_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def register(registry: RegistryProcess, url: str, models: list[str], headers: dict[str, str] = ALICE, **fields: Any) -> str:
    """Register a node and return its id."""
    body = {"url": url, "models": models, "price_per_1k": 0.0005, "context": 8192, **fields}
    response = registry.http.post("/v1/nodes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["node_id"])


def error_message(response: httpx.Response) -> str:
    """The message of a JSON error answer."""
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == response.status_code
    return str(body["error"]["message"])


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_stub_on(port: int, script: dict[str, Any]) -> StubNode:
    """A stub node on a chosen port."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(script, handle)
    command = [sys.executable, "-m", "freescode_lsp.testing.stub_node", "--port", str(port), "--script", handle.name]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == f"PORT {port}\n", line
    node = StubNode(process, port, Path(handle.name))
    wait_for(lambda: _answers(node), "the stub node to answer")
    return node


def _answers(node: StubNode) -> bool:
    try:
        node.records()
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    """A registry with alice's and bob's tokens, a 30 s lease and fast probes."""
    process = start_registry(tmp_path / "registry.sqlite3", tokens=TOKENS, probe_interval_s=PROBE_S)
    yield process
    process.stop()


@pytest.fixture
def second_stub() -> Iterator[StubNode]:
    """Another stub node."""
    node = start_stub_node()
    yield node
    node.stop()


def test_a_registered_node_is_listed_with_its_price_and_context(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["code-llama-7b"], **RUN_BY_ALICE})
    response = registry.http.post(
        "/v1/nodes",
        json={
            "url": stub_node.base_url + "/",
            "models": ["code-llama-7b"],
            "price_per_1k": 0.0005,
            "context": 8192,
            "operator": "alice's box",
        },
        headers=ALICE,
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["lease_s"] == 30.0
    assert answer["node_id"].startswith("node-")

    listed = wait_for(lambda: hosts(registry, "code-llama-7b"), "the node to be listed")
    assert len(listed) == 1
    host = listed[0]
    assert isinstance(host.pop("last_seen"), float)
    assert host == {
        "url": stub_node.url,
        "price_per_1k": 0.0005,
        "context": 8192,
        "load": None,
        "ttft_ms": None,
        "tokens_per_s": None,
    }

    beat = registry.http.post(
        f"/v1/nodes/{answer['node_id']}/heartbeat",
        json={"load": 0.25, "ttft_ms": 120, "tokens_per_s": 47.5},
        headers=ALICE,
    )
    assert beat.status_code == 200, beat.text
    assert beat.json() == {"node_id": answer["node_id"], "lease_s": 30.0, "listed": ["code-llama-7b"]}
    host = hosts(registry, "code-llama-7b")[0]
    assert (host["load"], host["ttft_ms"], host["tokens_per_s"]) == (0.25, 120.0, 47.5)

    catalog = registry.http.get("/v1/models").json()
    assert catalog["object"] == "list"
    assert [model["id"] for model in catalog["data"]] == BUILTIN_IDS
    served = {model["id"]: len(model["available_hosts"]) for model in catalog["data"]}
    assert served == {model_id: int(model_id == "code-llama-7b") for model_id in BUILTIN_IDS}
    code_llama = next(model for model in catalog["data"] if model["id"] == "code-llama-7b")
    assert code_llama["context"] == 100000
    assert code_llama["price_per_1k"] == 0.001
    assert code_llama["specialties"] == ["Python", "debugging", "documentation"]

    status = node_status(registry, answer["node_id"])
    assert (status["operator"], status["operator_label"]) == ("alice", "alice's box")
    assert status["listed"] == ["code-llama-7b"]
    assert status["unlisted"] == {}
    assert "probe_key" not in status


def test_deregistered_node_disappears(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b"], **RUN_BY_ALICE})
    node_id = register(registry, stub_node.url, ["mistral-7b"])
    wait_for(lambda: hosts(registry, "mistral-7b"), "the node to be listed")

    response = registry.http.delete(f"/v1/nodes/{node_id}", headers=ALICE)
    assert response.status_code == 200
    assert response.json() == {"node_id": node_id, "deleted": True}
    assert hosts(registry, "mistral-7b") == []
    assert registry.http.get(f"/v1/nodes/{node_id}").status_code == 404
    beat = registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)
    assert beat.status_code == 404
    assert "register again" in error_message(beat)


def test_re_registering_the_same_url_keeps_the_node_id(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b", "code-llama-7b"], **RUN_BY_ALICE})
    first = register(registry, stub_node.url, ["mistral-7b"])
    second = register(registry, stub_node.url + "/v1", ["mistral-7b", "code-llama-7b"], price_per_1k=0.002)
    assert second == first
    wait_for(lambda: hosts(registry, "code-llama-7b"), "the new model to be listed")
    assert [h["price_per_1k"] for h in hosts(registry, "mistral-7b")] == [0.002]
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 1


def test_a_node_drops_out_when_its_lease_expires(tmp_path: Path, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b"], **RUN_BY_ALICE})
    with start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, lease_s=1, probe_interval_s=0.2) as registry:
        node_id = register(registry, stub_node.url, ["mistral-7b"])

        def beat_and_list() -> list[dict[str, Any]]:
            response = registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.5}, headers=ALICE)
            assert response.status_code == 200, response.text
            return hosts(registry, "mistral-7b")

        assert [h["url"] for h in wait_for(beat_and_list, "the node to be listed")] == [stub_node.url]
        wait_for(lambda: not hosts(registry, "mistral-7b"), "the lease to expire")
        status = node_status(registry, node_id)
        assert status["live"] is False
        assert status["unlisted"]["mistral-7b"].startswith("lease expired: not heard from for ")

        assert [h["url"] for h in wait_for(beat_and_list, "a heartbeat to renew the lease")] == [stub_node.url]


def test_operator_tokens_are_required(tmp_path: Path, stub_node: Any, second_stub: StubNode) -> None:
    stub_node.set_script({"models": ["mistral-7b"], "operator_token": "carol-token"})
    second_stub.set_script({"models": ["mistral-7b"], "operator_token": "plain-token"})
    with start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, env_tokens="carol:carol-token, plain-token") as registry:
        body = {"url": "http://127.0.0.1:9", "models": ["mistral-7b"], "price_per_1k": 0.0, "context": 4096}
        refused = [
            {},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Basic {TOKENS['alice']}"},
            {"Authorization": "Bearer"},
            {"Authorization": TOKENS["alice"]},
            {"Authorization": f"Bearer {TOKENS['alice']}x"},
        ]
        for headers in refused:
            response = registry.http.post("/v1/nodes", json=body, headers=headers)
            assert response.status_code == 401, (headers, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "operator token" in error_message(response)
        catalog = {"id": "sneaky-1b", "context": 4096}
        assert registry.http.post("/v1/catalog", json=catalog).status_code == 401
        assert registry.http.post("/v1/catalog", json=catalog, headers={"Authorization": "Bearer x"}).status_code == 401
        assert registry.http.post("/v1/nodes/node-123/heartbeat", json={}).status_code == 401
        assert registry.http.delete("/v1/nodes/node-123").status_code == 401
        assert registry.http.get("/v1/nodes").json() == {"data": []}
        assert registry.http.get("/v1/models/sneaky-1b").status_code == 404

        carol = register(registry, stub_node.url, ["mistral-7b"], {"Authorization": "Bearer carol-token"})
        plain = register(registry, second_stub.url, ["mistral-7b"], {"Authorization": "bearer plain-token"})
        assert node_status(registry, carol)["operator"] == "carol"
        assert node_status(registry, plain)["operator"].startswith("operator-")


def test_a_forged_heartbeat_from_another_operator_is_refused(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b"], **RUN_BY_ALICE})
    node_id = register(registry, stub_node.url, ["mistral-7b"])
    beat = registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.1}, headers=ALICE)
    assert beat.status_code == 200
    before = wait_for(lambda: hosts(registry, "mistral-7b"), "the honest node to be listed")

    forged = registry.http.post(
        f"/v1/nodes/{node_id}/heartbeat", json={"load": 99, "ttft_ms": 1, "tokens_per_s": 1000}, headers=BOB
    )
    assert forged.status_code == 403
    assert error_message(forged) == f"node '{node_id}' belongs to another operator"
    assert registry.http.delete(f"/v1/nodes/{node_id}", headers=BOB).status_code == 403
    taken = registry.http.post(
        "/v1/nodes",
        json={"url": stub_node.url, "models": ["mistral-7b"], "price_per_1k": 0.0, "context": 8192},
        headers=BOB,
    )
    assert taken.status_code == 403
    assert "did not prove that operator 'bob' runs it" in error_message(taken)

    assert hosts(registry, "mistral-7b") == before
    assert before[0]["load"] == 0.1
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 1


def test_a_restart_keeps_the_catalog_and_registrations(tmp_path: Path, stub_node: Any) -> None:
    db = tmp_path / "registry.sqlite3"
    stub_node.set_script({"models": ["team-coder-3b", "mistral-7b"], **RUN_BY_ALICE})
    model = {"id": "team-coder-3b", "context": 16384, "price_per_1k": 0.0002, "specialties": ["Go"]}
    with start_registry(db, tokens=TOKENS, probe_interval_s=PROBE_S) as registry:
        assert registry.http.post("/v1/catalog", json=model, headers=ALICE).status_code == 201
        node_id = register(registry, stub_node.url, ["team-coder-3b", "mistral-7b"])
        wait_for(lambda: hosts(registry, "team-coder-3b"), "the node to be listed")
        assert registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.3}, headers=ALICE).is_success
        before = hosts(registry, "team-coder-3b")
        assert registry.stop() == 0

    with start_registry(db, tokens=TOKENS, probe_interval_s=PROBE_S) as registry:
        ids = [m["id"] for m in registry.http.get("/v1/models").json()["data"]]
        assert ids == [*BUILTIN_IDS, "team-coder-3b"]
        kept = registry.http.get("/v1/models/team-coder-3b").json()
        assert {k: kept[k] for k in model} == model
        assert wait_for(lambda: hosts(registry, "team-coder-3b"), "the node after the restart") == before
        assert hosts(registry, "mistral-7b") == before
        beat = registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=ALICE)
        assert beat.status_code == 200
        last_beat = time.time()
        assert registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers=BOB).status_code == 403

    time.sleep(max(0.0, last_beat + 1.5 - time.time()))
    with start_registry(db, tokens=TOKENS, lease_s=1) as registry:
        assert hosts(registry, "team-coder-3b") == []
        status = node_status(registry, node_id)
        assert status["live"] is False
        assert status["unlisted"]["team-coder-3b"].startswith("lease expired")


def test_a_node_that_does_not_serve_a_claimed_model_is_not_listed_for_it(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b"], **RUN_BY_ALICE})
    node_id = register(registry, stub_node.url, ["code-llama-7b", "mistral-7b"])
    wait_for(lambda: hosts(registry, "mistral-7b"), "the node to be listed for the model it serves")
    assert hosts(registry, "code-llama-7b") == []
    status = node_status(registry, node_id)
    assert status["listed"] == ["mistral-7b"]
    assert status["unlisted"] == {"code-llama-7b": "the node's /v1/models does not list it (it lists: mistral-7b)"}

    stub_node.set_script({"models": ["mistral-7b", "code-llama-7b"], **RUN_BY_ALICE})
    wait_for(lambda: hosts(registry, "code-llama-7b"), "a later probe to list the model")


def test_a_node_is_listed_only_while_its_probes_succeed(registry: RegistryProcess, stub_node: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    down = registry.http.post(
        "/v1/nodes", json={"url": url, "models": ["mistral-7b"], "price_per_1k": 0.0, "context": 4096}, headers=ALICE
    )
    assert down.status_code == 403
    assert error_message(down).startswith(f"{url} did not prove that operator 'alice' runs it (cannot connect)")
    assert registry.http.get("/v1/nodes").json() == {"data": []}

    stub_node.set_script({"models": ["code-llama-7b"], "health_status": 503, **RUN_BY_ALICE})
    sick = register(registry, stub_node.url, ["code-llama-7b"])
    status = wait_for(lambda: (s := node_status(registry, sick, ALICE))["probed_at"] and s, "a probe")
    assert (status["probe_ok"], status["probe_error"]) == (False, "GET /health answered 503")
    assert status["unlisted"] == {"code-llama-7b": "last probe failed: GET /health answered 503"}
    assert status["listed"] == []
    assert hosts(registry, "code-llama-7b") == []

    with start_stub_on(port, {"models": ["mistral-7b"], **RUN_BY_ALICE}):
        node_id = register(registry, url, ["mistral-7b"])
        listed = wait_for(lambda: hosts(registry, "mistral-7b"), "the node to be listed")
        assert [h["url"] for h in listed] == [url]
    wait_for(lambda: not hosts(registry, "mistral-7b"), "the stopped node to be unlisted")
    assert node_status(registry, node_id, ALICE)["probe_error"] == "cannot connect"
    stub_node.set_script({"models": ["code-llama-7b"], **RUN_BY_ALICE})
    wait_for(lambda: hosts(registry, "code-llama-7b"), "the node to become healthy")


def test_an_operator_adds_a_catalog_model(registry: RegistryProcess, stub_node: Any) -> None:
    model = {"id": "acme/coder-1b", "context": 16384, "price_per_1k": 0.0002, "specialties": ["Go", "SQL"]}
    added = registry.http.post("/v1/catalog", json=model, headers=BOB)
    assert added.status_code == 201, added.text
    expected = {**model, "object": "model", "available_hosts": []}
    assert added.json() == expected
    assert registry.http.get("/v1/models/acme/coder-1b").json() == expected
    assert registry.http.get("/v1/models").json()["data"][-1] == expected

    again = registry.http.post("/v1/catalog", json={**model, "context": 1}, headers=ALICE)
    assert again.status_code == 409
    assert error_message(again) == "model 'acme/coder-1b' is already in the catalog"
    builtin = registry.http.post("/v1/catalog", json={"id": "mistral-7b", "context": 1}, headers=ALICE)
    assert builtin.status_code == 409
    assert registry.http.get("/v1/models/mistral-7b").json()["context"] == 32768

    minimal = registry.http.post("/v1/catalog", json={"id": "tiny-1m", "context": 512}, headers=ALICE)
    assert minimal.json() == {
        "id": "tiny-1m",
        "object": "model",
        "context": 512,
        "price_per_1k": None,
        "specialties": [],
        "available_hosts": [],
    }

    stub_node.set_script({"models": ["acme/coder-1b"], **RUN_BY_ALICE})
    register(registry, stub_node.url, ["acme/coder-1b"], context=16384)
    assert [h["url"] for h in wait_for(lambda: hosts(registry, "acme/coder-1b"), "the node")] == [stub_node.url]


def test_an_unknown_model_is_a_404(registry: RegistryProcess) -> None:
    response = registry.http.get("/v1/models/no-such-model")
    assert response.status_code == 404
    assert error_message(response) == "unknown model 'no-such-model'; GET /v1/models lists the catalog"
    missing = registry.http.get("/v2/whatever")
    assert missing.status_code == 404
    assert error_message(missing) == "no such endpoint: /v2/whatever"
    wrong_method = registry.http.put("/v1/models")
    assert wrong_method.status_code == 405
    assert error_message(wrong_method) == "PUT is not allowed here"


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RegistryProcess, str]]:
    """One registry for the malformed-body cases, with one node of alice's registered."""
    process = start_registry(tmp_path_factory.mktemp("registry") / "r.sqlite3", tokens=TOKENS)
    with start_stub_node({"models": ["mistral-7b"], **RUN_BY_ALICE}) as node:
        node_id = register(process, node.url, ["mistral-7b"])
        yield process, node_id
    process.stop()


GOOD_NODE: dict[str, Any] = {
    "url": "http://127.0.0.1:11",
    "models": ["mistral-7b"],
    "price_per_1k": 0.001,
    "context": 4096,
}
RAW_NODE_BODIES = [
    (b"{not json", 400, "the body is not valid JSON"),
    (b"", 400, "the body is empty"),
    (b"   ", 400, "the body is empty"),
    (b"[1, 2]", 400, "the body must be a JSON object, not list"),
    (b'"a string"', 400, "the body must be a JSON object, not str"),
    (b"null", 400, "the body must be a JSON object, not NoneType"),
    (b"\xff\xfe{}", 400, "the body is not UTF-8 text"),
    (b"[" * 5000 + b"]" * 5000, 400, "nested too deeply"),
    (json.dumps(GOOD_NODE).replace("0.001", "NaN").encode(), 400, "NaN is not a JSON number"),
    (json.dumps(GOOD_NODE).replace("0.001", "Infinity").encode(), 400, "Infinity is not a JSON number"),
]
NODE_FIELD_CASES = [
    ({"url": None}, "missing field 'url'"),
    ({"models": None}, "missing field 'models'"),
    ({"price_per_1k": None}, "missing field 'price_per_1k'"),
    ({"context": None}, "missing field 'context'"),
    ({"url": 123}, "'url' must be a non-empty string"),
    ({"url": "ftp://127.0.0.1/"}, "'url' must start with http:// or https://"),
    ({"url": "127.0.0.1:8080"}, "'url' must start with http:// or https://"),
    ({"url": "http://"}, "'url' has no host"),
    ({"url": "http://user:pw@127.0.0.1:1"}, "'url' must not carry credentials, a query or a fragment"),
    ({"url": "http://127.0.0.1:1/?x=1"}, "'url' must not carry credentials, a query or a fragment"),
    ({"url": "http://127.0.0.1:99999"}, "'url' is not a valid URL"),
    ({"url": "http://" + "a" * 3000}, "'url' is longer than 2048 characters"),
    ({"models": "mistral-7b"}, "'models' must be a list of strings"),
    ({"models": []}, "'models' is empty"),
    ({"models": [7]}, "'models[]' must be a non-empty string"),
    ({"models": ["mistral-7b", "no-such-model"]}, "unknown model ids: no-such-model; add them to the catalog first"),
    ({"models": [f"m{i}" for i in range(65)]}, "'models' has more than 64 entries"),
    ({"price_per_1k": "cheap"}, "'price_per_1k' must be a number"),
    ({"price_per_1k": -0.5}, "'price_per_1k' must be a number from 0 to 1000"),
    ({"price_per_1k": True}, "'price_per_1k' must be a number"),
    ({"price_per_1k": [1]}, "'price_per_1k' must be a number"),
    ({"context": 4096.5}, "'context' must be an integer"),
    ({"context": "4096"}, "'context' must be an integer"),
    ({"context": 0}, "'context' must be between 1 and"),
    ({"context": 10**30}, "'context' must be between 1 and"),
    ({"operator": 5}, "'operator' must be a non-empty string"),
    ({"operator": {"name": "x"}}, "'operator' must be a non-empty string"),
]


@pytest.mark.parametrize(("raw", "status", "message"), RAW_NODE_BODIES)
def test_unreadable_registration_bodies_are_refused(
    shared_registry: tuple[RegistryProcess, str], raw: bytes, status: int, message: str
) -> None:
    registry, _ = shared_registry
    response = registry.http.post("/v1/nodes", content=raw, headers={**ALICE, "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert message in error_message(response)
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 1


@pytest.mark.parametrize(("change", "message"), NODE_FIELD_CASES)
def test_invalid_registration_fields_are_refused(
    shared_registry: tuple[RegistryProcess, str], change: dict[str, Any], message: str
) -> None:
    registry, _ = shared_registry
    body = {key: value for key, value in {**GOOD_NODE, **change}.items() if value is not None}
    response = registry.http.post("/v1/nodes", json=body, headers=ALICE)
    assert response.status_code == 422, response.text
    assert message in error_message(response)
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"load": "high"}, 422, "'load' must be a number"),
        ({"ttft_ms": -5}, 422, "'ttft_ms' must be a number from 0"),
        ({"tokens_per_s": False}, 422, "'tokens_per_s' must be a number"),
        ([], 400, "the body must be a JSON object, not list"),
        (b"{", 400, "the body is not valid JSON"),
    ],
)
def test_invalid_heartbeats_are_refused(
    shared_registry: tuple[RegistryProcess, str], body: Any, status: int, message: str
) -> None:
    registry, node_id = shared_registry
    path = f"/v1/nodes/{node_id}/heartbeat"
    if isinstance(body, bytes):
        response = registry.http.post(path, content=body, headers=ALICE)
    else:
        response = registry.http.post(path, json=body, headers=ALICE)
    assert response.status_code == status, response.text
    assert message in error_message(response)
    assert node_status(registry, node_id)["load"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"context": 4096}, "missing field 'id'"),
        ({"id": "x-1"}, "missing field 'context'"),
        ({"id": "bad id with spaces", "context": 4096}, "is not a model id"),
        ({"id": "-leading-dash", "context": 4096}, "is not a model id"),
        ({"id": "x-1", "context": 4096, "specialties": "Go"}, "'specialties' must be a list of strings"),
        ({"id": "x-1", "context": 4096, "price_per_1k": "free"}, "'price_per_1k' must be a number"),
        ({"id": "x-1", "context": -1}, "'context' must be between 1 and"),
    ],
)
def test_invalid_catalog_models_are_refused(
    shared_registry: tuple[RegistryProcess, str], body: dict[str, Any], message: str
) -> None:
    registry, _ = shared_registry
    response = registry.http.post("/v1/catalog", json=body, headers=BOB)
    assert response.status_code == 422, response.text
    assert message in error_message(response)
    assert [m["id"] for m in registry.http.get("/v1/models").json()["data"]] == BUILTIN_IDS


def test_oversized_bodies_are_refused(shared_registry: tuple[RegistryProcess, str]) -> None:
    registry, node_id = shared_registry
    big = json.dumps({**GOOD_NODE, "operator": "x" * 70_000}).encode()

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for path in ("/v1/nodes", f"/v1/nodes/{node_id}/heartbeat", "/v1/catalog"):
        response = registry.http.post(path, content=big, headers=ALICE)
        assert response.status_code == 413, (path, response.text)
        assert error_message(response) == "the body is larger than 65536 bytes"
    streamed = registry.http.post("/v1/nodes", content=chunked(), headers=ALICE)
    assert streamed.status_code == 413
    assert registry.http.get("/health").json() == {"status": "ok"}
    assert len(registry.http.get("/v1/nodes").json()["data"]) == 1


async def test_the_client_reads_hosts_and_manages_a_node(registry: RegistryProcess, stub_node: Any) -> None:
    stub_node.set_script({"models": ["mistral-7b"], **RUN_BY_ALICE})
    async with RegistryClient(registry.url + "/v1/", timeout=5, token=TOKENS["alice"]) as client:
        assert client.base_url == registry.url + "/v1"
        assert [m["id"] for m in await client.models()] == BUILTIN_IDS
        answer = await client.register(stub_node.url, ["mistral-7b"], 0.0007, 4096, operator="alice")
        assert answer["lease_s"] == 30.0
        node_id = answer["node_id"]
        deadline = time.monotonic() + WAIT_S
        while not await client.hosts_for("mistral-7b"):
            assert time.monotonic() < deadline, "the node was never listed"
            await asyncio.sleep(0.05)
        beat = await client.heartbeat(node_id, load=0.5, ttft_ms=80.0, tokens_per_s=30.0)
        assert beat["listed"] == ["mistral-7b"]
        [host] = await client.hosts_for("mistral-7b")
        assert (host["url"], host["price_per_1k"], host["context"], host["load"]) == (stub_node.url, 0.0007, 4096, 0.5)
        assert [n["node_id"] for n in await client.nodes()] == [node_id]
        added = await client.add_model("client-model-1b", 2048, 0.0001, ["tests"])
        assert added["id"] == "client-model-1b"

        async with RegistryClient(registry.url, token=TOKENS["bob"]) as bob:
            with pytest.raises(RegistryError) as refused:
                await bob.heartbeat(node_id, load=9)
            assert refused.value.status == 403
            assert "belongs to another operator" in str(refused.value)

        await client.deregister(node_id)
        assert await client.hosts_for("mistral-7b") == []
        with pytest.raises(RegistryError) as gone:
            await client.heartbeat(node_id)
        assert gone.value.status == 404
        with pytest.raises(RegistryError) as unknown:
            await client.hosts_for("no-such-model")
        assert unknown.value.status == 404
        assert "unknown model 'no-such-model'" in str(unknown.value)

    async with RegistryClient(registry.url, token="wrong") as wrong:
        with pytest.raises(RegistryError) as unauthorized:
            await wrong.register(stub_node.url, ["mistral-7b"], 0.0, 4096)
        assert unauthorized.value.status == 401
    async with RegistryClient(registry.url) as anonymous:
        with pytest.raises(RegistryError, match="needs an operator token"):
            await anonymous.deregister("node-1")
    async with RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2) as nowhere:
        with pytest.raises(RegistryUnavailable, match="cannot reach the registry"):
            await nowhere.models()


def test_serve_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(["registry", "serve", "--port", "0", "--lease-s", "2.5", "--probe-interval-s", "1"])
    assert (args.lease_s, args.probe_interval_s, args.port, args.host) == (2.5, 1.0, 0, "127.0.0.1")
    for bad, message in (
        (["--lease-s", "0"], "'0' must be a positive number"),
        (["--probe-interval-s", "-1"], "'-1' must be a positive number"),
        (["--lease-s", "soon"], "'soon' is not a number"),
    ):
        with pytest.raises(SystemExit) as exited:
            parser.parse_args(["registry", "serve", *bad])
        assert exited.value.code == 2
        assert message in capsys.readouterr().err


def test_serve_reports_an_unreadable_tokens_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-tokens.txt"
    db = tmp_path / "r.sqlite3"
    code = main(["registry", "serve", "--port", "0", "--db", str(db), "--operator-tokens", str(missing)])
    assert code == 2
    assert "cannot read the operator tokens" in capsys.readouterr().err
    assert not db.exists()
