"""Clients and node gateways given several registry URLs skip a dead, failing or silent one and come back to it later."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import cattrs
import pytest

from freescode_lsp.config import NetworkSettings
from freescode_lsp.config.values import make_converter
from freescode_lsp.testing.node_process import start_gateway
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.raw_node import RawNode
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.wire import registry_client
from freescode_lsp.wire.registry_client import RegistryClient, RegistryUnavailable, registry_urls

TOKEN = "failover-operator-token"
MODEL = "mistral-7b"
UNAVAILABLE = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Wait in the event loop until `check()` is true."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@pytest.fixture
def registry(tmp_path: Path) -> Any:
    """One live registry."""
    with start_registry(tmp_path / "r.sqlite3", tokens={"op": TOKEN}) as process:
        yield process


def test_registry_urls_come_as_one_a_list_or_commas() -> None:
    assert registry_urls("http://a:1") == ["http://a:1/v1"]
    assert registry_urls(" http://a:1/v1/ , http://b:2,,http://a:1") == ["http://a:1/v1", "http://b:2/v1"]
    assert registry_urls(["http://a:1", "http://b:2,http://c:3"]) == ["http://a:1/v1", "http://b:2/v1", "http://c:3/v1"]
    with pytest.raises(ValueError, match="no registry URL"):
        registry_urls(" , ")
    converter = make_converter()
    for given in (["http://a:1", "http://b:2"], "http://a:1, http://b:2"):
        assert converter.structure({"registry": given}, NetworkSettings).registry == "http://a:1,http://b:2"
    for bad in ("http://a:1,ftp://b", [], ["http://a:1", 5], 7):
        with pytest.raises(cattrs.BaseValidationError):
            converter.structure({"registry": bad}, NetworkSettings)


async def test_a_silent_registry_is_skipped_rests_and_is_tried_again(
    registry: RegistryProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_client, "FIRST_REST_S", 0.5)
    with RawNode("silent") as silent:
        async with RegistryClient([silent.url, registry.url], timeout=30, skip_after_s=0.3) as client:
            assert [m["id"] for m in await client.models()][:1] == ["starcoder-15b"]
            assert silent.connections == 1
            assert client.base_url == registry.url + "/v1"
            assert list(client.resting()) == [silent.url + "/v1"]
            await client.models()
            assert silent.connections == 1, "a resting registry is not asked"
            await until(lambda: not client.resting(), "the rest to end")
            await client.models()
            assert silent.connections == 2, "after its rest the registry is tried again"
            assert list(client.resting()) == [silent.url + "/v1"]


async def test_a_failing_registry_rests_as_long_as_it_asks_and_the_last_one_left_answers(registry: RegistryProcess) -> None:
    with RawNode("canned", answer=UNAVAILABLE) as failing, RawNode("silent") as silent:
        async with RegistryClient(f"{failing.url},{registry.url}", token=TOKEN) as client:
            await client.models()
            [(url, rest)] = client.resting().items()
            assert url == failing.url + "/v1" and 6 < rest <= 7
        async with RegistryClient([failing.url, silent.url], timeout=0.5, skip_after_s=0.2) as client:
            with pytest.raises(RegistryUnavailable, match=f"the registry at {silent.url}/v1 timed out"):
                await client.models()
            assert set(client.resting()) == {failing.url + "/v1", silent.url + "/v1"}
            with pytest.raises(RegistryUnavailable):
                await client.models()
            assert (failing.connections, silent.connections) == (3, 2), "when all rest, all are tried"


@pytest.fixture
def stub() -> Any:
    """The engine behind the gateway."""
    node = start_stub_node({"models": [MODEL]})
    yield node
    node.stop()


def test_a_gateway_stays_registered_through_a_replica_that_dies(postgres_url: str, stub: StubNode, tmp_path: Path) -> None:
    lease = ("--lease-s", "2")
    first = start_registry(postgres_url, env_tokens=f"op:{TOKEN}", probe_interval_s=0.5, extra_args=lease)  # type: ignore[arg-type]
    second = start_registry(postgres_url, env_tokens=f"op:{TOKEN}", probe_interval_s=0.5, extra_args=lease)  # type: ignore[arg-type]
    gateway = None
    try:
        registries = f"{first.url},{second.url}"
        args = ("--model", MODEL, "--engine-url", stub.url, "--registry", registries)
        gateway = start_gateway(tmp_path, *args, env={"FREESCODE_OPERATOR_TOKEN": TOKEN})
        wait_for(lambda: hosts(second), "the gateway to be listed")
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
        killed_at = time.time()
        renewed = wait_for(lambda: (h := hosts(second)) and h[0]["last_seen"] > killed_at + 2 and h, "heartbeats after the kill")
        assert [host["url"] for host in renewed] == [gateway.url]
        assert len(second.http.get("/v1/nodes").json()["data"]) == 1, "no second registration"
    finally:
        if gateway is not None:
            gateway.stop()
        first.stop()
        second.stop()


def hosts(registry: RegistryProcess) -> list[dict[str, Any]]:
    """The hosts a registry lists for MODEL."""
    return list(registry.http.get(f"/v1/models/{MODEL}").json()["available_hosts"])
