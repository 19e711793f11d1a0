"""`freescode doctor` against real loopback servers that answer badly on purpose, and which model answers each task.

The network section trusts nothing: a huge or dripping answer, a redirect or an answer that is not an OpenAI
model list is a failure, a keyed node is asked with its key, and `local-only` contacts nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from freescode_lsp.config import Settings, settings_from_dict
from freescode_lsp.doctor import Check
from freescode_lsp.doctor.network import MAX_ANSWER_BYTES, network_checks, silent_nodes
from freescode_lsp.doctor.tasks import task_checks
from freescode_lsp.system import paths
from freescode_lsp.testing.cli_runner import run_cli
from freescode_lsp.testing.raw_node import RawNode
from freescode_lsp.testing.registry_process import start_registry

MODEL_LIST = b'{"object": "list", "data": [{"id": "code-llama-7b", "object": "model"}]}'


def http_answer(status: str, body: bytes, *headers: str, length: bool = True) -> bytes:
    """One whole HTTP/1.1 answer, closed after the body (no Content-Length when `length` is off)."""
    head = [f"HTTP/1.1 {status}", "Connection: close", *headers]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def with_nodes(*nodes: str | dict[str, Any], **extra: Any) -> Settings:
    """Settings naming these nodes (a URL, or a node's settings), each serving code-llama-7b, remote-first unless
    `extra` says otherwise."""
    entries = [node if isinstance(node, dict) else {"url": node} for node in nodes]
    raw: dict[str, Any] = {"nodes": [{"models": ["code-llama-7b"], **entry} for entry in entries]}
    raw["network"] = {"mode": "remote-first"}
    raw.update(extra)
    loaded = settings_from_dict(raw)
    assert not loaded.problems, loaded.problems
    return loaded.settings


def only(checks: list[Check], name: str) -> Check:
    """The one check of this name."""
    [found] = [check for check in checks if check.name == name]
    return found


async def test_a_node_answering_512_mib_is_refused_after_a_bounded_read() -> None:
    with RawNode("huge", size=512 * 1024 * 1024) as node:
        [check] = await network_checks(with_nodes(node.url))
    assert check.status == "fail", check
    assert f"answered more than {MAX_ANSWER_BYTES // 1024} KiB to GET /v1/models" in check.detail


async def test_a_long_answer_without_a_length_is_cut_while_it_streams() -> None:
    items = b",".join([b'{"id": "code-llama-7b", "object": "model"}'] * 50_000)
    body = b'{"object": "list", "data": [' + items + b"]}"
    assert len(body) > 4 * MAX_ANSWER_BYTES
    answer = http_answer("200 OK", body, "Content-Type: application/json", length=False)
    with RawNode("canned", answer=answer) as node:
        [check] = await network_checks(with_nodes(node.url))
    assert check.status == "fail", check
    assert f"answered more than {MAX_ANSWER_BYTES // 1024} KiB" in check.detail


async def test_a_node_that_drips_fails_at_the_probe_deadline() -> None:
    with RawNode("drip") as node:
        [check] = await network_checks(with_nodes(node.url))
    assert (check.status, check.detail) == ("fail", f"{node.url} did not answer within 5 s"), check
    assert check.todo == "Check the URL and that the service runs; tasks fall back to other hosts meanwhile."


async def test_the_whole_section_has_one_deadline() -> None:
    with RawNode("drip") as first, RawNode("drip") as second:
        checks = await network_checks(with_nodes(first.url, second.url), probe_s=60, section_s=1)
    assert [(check.status, check.detail) for check in checks] == [
        ("warn", "not checked: the network section's 1 s were over before its turn")
    ] * 2


async def test_a_redirect_is_reported_not_followed() -> None:
    with RawNode("canned", answer=http_answer("200 OK", MODEL_LIST)) as target:
        moved = http_answer("301 Moved Permanently", b"", f"Location: {target.url}/v1/models")
        with RawNode("canned", answer=moved) as node:
            [check] = await network_checks(with_nodes(node.url))
    assert check.status == "fail", check
    assert (
        check.detail == f"{node.url} answered 301 with a redirect to {target.url}/v1/models; the client does not follow redirects"
    )
    assert target.connections == 0


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"<html><body>Welcome to nginx!</body></html>", "with something that is not JSON"),
        (b'{"status": "ok"}', "with JSON that is not an OpenAI model list"),
        (b'{"object": "list", "data": [{"name": "code-llama-7b"}]}', "with a model list whose entries lack a string id"),
        (b'[{"id": "code-llama-7b"}]', "with JSON that is not an OpenAI model list"),
        (b"[" * 100_000, "with something that is not JSON"),
    ],
)
async def test_only_an_openai_model_list_counts_as_an_answer(body: bytes, said: str) -> None:
    with RawNode("canned", answer=http_answer("200 OK", body, "Content-Type: application/json")) as node:
        [check] = await network_checks(with_nodes(node.url))
    assert check.status == "fail", check
    assert check.detail.startswith(f"{node.url} answered GET /v1/models {said}"), check


async def test_a_keyed_node_is_asked_with_its_key(stub_node, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_node.set_script({"api_key": "node-secret", "models": ["code-llama-7b", "mistral-7b"]})
    monkeypatch.setenv("DOCTOR_TEST_KEY", "node-secret")
    [check] = await network_checks(with_nodes({"url": stub_node.url, "api_key_env": "DOCTOR_TEST_KEY"}))
    assert (check.name, check.status) == (f"node {stub_node.url}", "ok"), check
    assert check.detail == f"{stub_node.url} answers: 2 models (code-llama-7b, mistral-7b)"


async def test_a_refused_key_says_where_the_key_comes_from(stub_node, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_node.set_script({"api_key": "node-secret"})
    monkeypatch.delenv("DOCTOR_UNSET_KEY", raising=False)
    unset = {"url": stub_node.url, "api_key_env": "DOCTOR_UNSET_KEY"}
    checks = await network_checks(with_nodes(unset, {"url": stub_node.url, "api_key": "wrong", "name": "second"}))
    assert [check.detail for check in checks] == [
        f"{stub_node.url} answered 401; api_key_env names DOCTOR_UNSET_KEY, which is not set here",
        f"{stub_node.url} answered 401: it refused the key from api_key",
    ]
    assert [check.name for check in checks] == [f"node {stub_node.url}", "node second"]


async def test_the_registry_is_asked_for_the_catalog_routers_read(tmp_path: Path) -> None:
    with start_registry(tmp_path / "registry.sqlite3") as registry:
        settings = with_nodes(network={"mode": "local-first", "registry": f"{registry.url}/v1/"})
        [check] = await network_checks(settings)
        catalog = registry.http.get("/v1/models").json()["data"]
    assert (check.name, check.status) == ("registry", "ok"), check
    assert check.detail == f"{registry.url}/v1 answers: {len(catalog)} models in its catalog, 0 with hosts now"


async def test_each_registry_replica_is_checked(tmp_path: Path) -> None:
    with start_registry(tmp_path / "registry.sqlite3") as registry, RawNode("missing") as dead:
        settings = with_nodes(network={"mode": "local-first", "registry": f"{registry.url}, {dead.url}"})
        checks = await network_checks(settings)
    assert [(check.name, check.status) for check in checks] == [
        (f"registry {registry.url}/v1", "ok"),
        (f"registry {dead.url}/v1", "fail"),
    ], checks


async def test_local_only_contacts_nothing_and_says_so() -> None:
    with RawNode("missing") as node, RawNode("missing") as registry:
        settings = with_nodes(node.url, network={"mode": "local-only", "registry": registry.url})
        checks = [*await network_checks(settings), *await task_checks(settings, with_local=True)]
        assert (node.connections, registry.connections) == (0, 0)
    assert only(checks, "network") == Check(
        "network",
        "ok",
        "mode local-only: 1 configured node and the registry not contacted; tasks run on this machine",
        section="network",
    )


async def test_each_task_names_the_model_that_answers(stub_node, tmp_path: Path) -> None:
    settings = with_nodes(
        stub_node.url,
        network={"mode": "local-first"},
        routing={"fix": "code-llama-7b", "debug": "starcoder2-15b"},
        models={"starcoder2-15b": {"fallback": ["code-llama-7b"]}},
        local={"models_dir": str(tmp_path / "models")},
    )
    checks = await task_checks(settings, with_local=True)
    assert only(checks, "task fix") == Check("task fix", "ok", f"code-llama-7b answers on {stub_node.url}", section="tasks")
    debug = only(checks, "task debug")
    assert debug.status == "warn" and debug.section == "tasks", debug
    assert debug.detail == (
        f"code-llama-7b answers on {stub_node.url}, in place of the routed starcoder2-15b: "
        "not on disk (freescode models pull starcoder2-15b) and no node serves it"
    )
    assert "freescode models pull starcoder2-15b" in debug.todo


async def test_a_node_that_does_not_answer_is_not_counted_for_its_task(tmp_path: Path) -> None:
    with RawNode("missing") as node:
        settings = with_nodes(
            {"url": node.url, "name": "gone"},
            routing={"fix": "code-llama-7b"},
            models={"code-llama-7b": {"fallback": []}},
            local={"models_dir": str(tmp_path / "models")},
        )
        network = await network_checks(settings)
    fix = only(await task_checks(settings, with_local=True, silent_nodes=silent_nodes(settings, network)), "task fix")
    assert fix.status == "warn" and fix.detail.startswith("gemma-3-270m answers on this machine, in place of the routed"), fix
    assert fix.detail.endswith("; configured for it but not answering now: gone"), fix


async def test_a_task_no_model_can_answer_fails() -> None:
    settings = with_nodes(network={"mode": "remote-only"}, routing={"fix": "code-llama-7b"})
    fix = only(await task_checks(settings, with_local=True), "task fix")
    assert fix.status == "fail" and fix.detail.startswith("no model of code-llama-7b's chain can run: "), fix


def run_doctor(cwd: Path) -> tuple[int, list[dict[str, str]]]:
    """`freescode doctor --json` as a real process in `cwd`: its exit code and its checks."""
    done = run_cli("doctor", "--json", cwd=cwd)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.slow
def test_the_command_survives_every_hostile_node_at_once(stub_node, gemma_path: Path, tmp_path: Path) -> None:
    """One run of the real command with a keyed node, a dripping one, a huge one and a redirect: it ends, and
    only the keyed node counts as answering."""
    stub_node.set_script({"api_key": "node-secret"})
    with (
        RawNode("drip") as drip,
        RawNode("huge", size=512 * 1024 * 1024) as huge,
        RawNode("canned", answer=http_answer("302 Found", b"", "Location: http://127.0.0.1:9/v1/models")) as moved,
    ):
        nodes = "".join(f'[[nodes]]\nurl = "{url}"\nmodels = ["code-llama-7b"]\n' for url in (drip.url, huge.url, moved.url))
        config = paths.user_config_file()
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(
            f'[network]\nmode = "remote-first"\n[[nodes]]\nurl = "{stub_node.url}/v1"\napi_key = "node-secret"\n'
            f'models = ["code-llama-7b"]\n{nodes}'
        )
        code, checks = run_doctor(tmp_path)
    network = {check["name"]: check["status"] for check in checks if check["section"] == "network"}
    assert network == {
        f"node {stub_node.url}/v1": "ok",
        f"node {drip.url}": "fail",
        f"node {huge.url}": "fail",
        f"node {moved.url}": "fail",
    }
    assert code == 1
    tasks = {check["name"]: check for check in checks if check["section"] == "tasks"}
    assert tasks["task fix"] == {
        "name": "task fix",
        "status": "ok",
        "detail": f"code-llama-7b answers on {stub_node.url}",
        "todo": "",
        "section": "tasks",
    }
