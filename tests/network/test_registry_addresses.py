"""Which addresses a registry connects to: public ones, loopback and private ones when told, never other special-purpose ones.

Every special-purpose block of the IANA registries is refused, however it is spelled (IPv4-mapped, NAT64, 6to4,
Teredo) and whether the URL names it or a name resolves to it; nothing here connects beyond 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    AddressPolicy,
    allowed_addresses,
    endpoint_keys,
    parse_node_url,
)
from freescode_lsp.mesh.registry.app import RegistryApp
from freescode_lsp.mesh.registry.auth import OperatorTokens
from freescode_lsp.mesh.registry.node_probe import probe_node
from freescode_lsp.mesh.registry.probe_rounds import RegistrySettings
from freescode_lsp.mesh.registry.store import RegistryStore
from freescode_lsp.testing.raw_node import RawNode
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.wire.ownership import ownership_key, proof

TOKENS = {"alice": "alice-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
MODEL = "mistral-7b"
NEVER = "which this registry does not probe"
LOOPBACK_FLAG = " (a registry started with --allow-loopback-nodes does)"
PRIVATE_FLAG = " (a registry started with --allow-private-nodes does)"

SPECIAL_PURPOSE = [
    ("2002:7f00:1::", "2002:7f00:1:: is a special-purpose address (6to4, 2002::/16, carrying loopback 127.0.0.1)"),
    ("2002:a00:1::5", "2002:a00:1::5 is a special-purpose address (6to4, 2002::/16, carrying private 10.0.0.1)"),
    ("2002:808:808::1", "2002:808:808::1 is a special-purpose address (6to4, 2002::/16, carrying 8.8.8.8)"),
    (
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe is a special-purpose address"
        " (Teredo, 2001::/32, carrying 65.54.227.120 and loopback 127.0.0.1)",
    ),
    ("2001:2::1", "2001:2::1 is a special-purpose address (IETF protocol assignments, 2001::/23)"),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254 is a link-local address (169.254.0.0/16)"),
    ("64:ff9b::c000:201", "192.0.2.1 is a special-purpose address (documentation, 192.0.2.0/24)"),
    ("64:ff9b:1::7f00:1", "64:ff9b:1::7f00:1 is a special-purpose address (local-use IPv4/IPv6 translation, 64:ff9b:1::/48)"),
    ("::ffff:192.0.0.9", "192.0.0.9 is a special-purpose address (IETF protocol assignments, 192.0.0.0/24)"),
    ("::7f00:1", "::7f00:1 is a special-purpose address (reserved, IPv4-compatible, ::/8)"),
    ("::", ":: is a special-purpose address (unspecified, ::/128)"),
    ("100::1", "100::1 is a special-purpose address (discard-only, 100::/64)"),
    ("2001:db8::1", "2001:db8::1 is a special-purpose address (documentation, 2001:db8::/32)"),
    ("3fff::1", "3fff::1 is a special-purpose address (documentation, 3fff::/20)"),
    ("5f00::1", "5f00::1 is a special-purpose address (segment routing, 5f00::/16)"),
    ("4000::1", "4000::1 is a special-purpose address (outside global unicast, 2000::/3)"),
    ("fe80::1", "fe80::1 is a link-local address (fe80::/10)"),
    ("ff02::1", "ff02::1 is a special-purpose address (multicast, ff00::/8)"),
    ("0.0.0.0", "0.0.0.0 is a special-purpose address (this network, 0.0.0.0/8)"),
    ("0.1.2.3", "0.1.2.3 is a special-purpose address (this network, 0.0.0.0/8)"),
    ("169.254.169.254", "169.254.169.254 is a link-local address (169.254.0.0/16)"),
    ("192.0.0.1", "192.0.0.1 is a special-purpose address (IETF protocol assignments, 192.0.0.0/24)"),
    ("192.0.2.1", "192.0.2.1 is a special-purpose address (documentation, 192.0.2.0/24)"),
    ("192.31.196.1", "192.31.196.1 is a special-purpose address (AS112, 192.31.196.0/24)"),
    ("192.52.193.1", "192.52.193.1 is a special-purpose address (AMT, 192.52.193.0/24)"),
    ("192.88.99.1", "192.88.99.1 is a special-purpose address (6to4 relay anycast, 192.88.99.0/24)"),
    ("192.175.48.1", "192.175.48.1 is a special-purpose address (AS112 direct delegation, 192.175.48.0/24)"),
    ("198.18.0.1", "198.18.0.1 is a special-purpose address (benchmarking, 198.18.0.0/15)"),
    ("198.19.255.1", "198.19.255.1 is a special-purpose address (benchmarking, 198.18.0.0/15)"),
    ("198.51.100.7", "198.51.100.7 is a special-purpose address (documentation, 198.51.100.0/24)"),
    ("203.0.113.9", "203.0.113.9 is a special-purpose address (documentation, 203.0.113.0/24)"),
    ("224.0.0.1", "224.0.0.1 is a special-purpose address (multicast, 224.0.0.0/4)"),
    ("240.0.0.1", "240.0.0.1 is a special-purpose address (reserved, 240.0.0.0/4)"),
    ("255.255.255.255", "255.255.255.255 is a special-purpose address (limited broadcast, 255.255.255.255/32)"),
]
PRIVATE = [
    ("::ffff:10.0.0.1", "10.0.0.1 is a private address (10.0.0.0/8)"),
    ("64:ff9b::a00:1", "10.0.0.1 is a private address (10.0.0.0/8)"),
    ("172.16.5.4", "172.16.5.4 is a private address (172.16.0.0/12)"),
    ("192.168.1.1", "192.168.1.1 is a private address (192.168.0.0/16)"),
    ("100.64.0.1", "100.64.0.1 is a private address (shared address space, 100.64.0.0/10)"),
    ("fd00::1", "fd00::1 is a private address (unique local, fc00::/7)"),
    ("fec0::1", "fec0::1 is a private address (site-local, deprecated, fec0::/10)"),
]
LOOPBACK = [
    ("127.0.0.1", "127.0.0.1 is a loopback address (127.0.0.0/8)"),
    ("127.0.0.2", "127.0.0.2 is a loopback address (127.0.0.0/8)"),
    ("::1", "::1 is a loopback address (::1/128)"),
    ("::ffff:127.0.0.1", "127.0.0.1 is a loopback address (127.0.0.0/8)"),
    ("64:ff9b::7f00:1", "127.0.0.1 is a loopback address (127.0.0.0/8)"),
]


def url_of(address: str) -> str:
    """A node URL naming this address."""
    return f"http://[{address}]:8080" if ":" in address else f"http://{address}:8080"


def post_node(registry: RegistryProcess, url: str) -> httpx.Response:
    """POST alice's registration of `url` serving MODEL."""
    body = {"url": url, "models": [MODEL], "price_per_1k": 0.0005, "context": 8192}
    return registry.http.post("/v1/nodes", json=body, headers=ALICE)


def message(response: httpx.Response) -> str:
    """The message of a JSON error answer."""
    return str(response.json()["error"]["message"])


@pytest.mark.parametrize(("address", "reason"), SPECIAL_PURPOSE)
def test_special_purpose_addresses_are_never_allowed(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy(allow_loopback=True, allow_private=True).refusal(ip) == f"{reason.partition(' is ')[2]}, {NEVER}"


@pytest.mark.parametrize(("address", "reason"), PRIVATE)
def test_private_addresses_are_allowed_only_by_the_private_switch(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy(allow_loopback=True).refusal(ip) == f"{reason.partition(' is ')[2]}, {NEVER}{PRIVATE_FLAG}"
    assert AddressPolicy(allow_private=True).refusal(ip) is None


@pytest.mark.parametrize(("address", "reason"), LOOPBACK)
def test_loopback_addresses_are_allowed_only_by_the_loopback_switch(address: str, reason: str) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy(allow_private=True).refusal(ip) == f"{reason.partition(' is ')[2]}, {NEVER}{LOOPBACK_FLAG}"
    assert AddressPolicy(allow_loopback=True).refusal(ip) is None


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    """A registry for one machine's private network: loopback and private nodes allowed."""
    db = tmp_path_factory.mktemp("registry") / "r.sqlite3"
    process = start_registry(db, tokens=TOKENS, extra_args=("--allow-private-nodes",))
    yield process
    process.stop()


def test_a_registry_allowing_loopback_and_private_nodes_still_refuses_every_other_special_purpose_address(
    open_registry: RegistryProcess,
) -> None:
    for address, reason in SPECIAL_PURPOSE:
        refused = post_node(open_registry, url_of(address))
        assert refused.status_code == 422, (address, refused.text)
        assert message(refused) == f"'url' {reason}, {NEVER}", address
    assert open_registry.http.get("/v1/nodes").json() == {"data": []}


def test_a_registry_allowing_loopback_nodes_refuses_private_ones(tmp_path: Path) -> None:
    with start_registry(tmp_path / "r.sqlite3", tokens=TOKENS) as registry:
        for address, reason in PRIVATE:
            refused = post_node(registry, url_of(address))
            assert refused.status_code == 422, (address, refused.text)
            assert message(refused) == f"'url' {reason}, {NEVER}{PRIVATE_FLAG}", address


def test_a_public_registry_refuses_loopback_and_private_addresses_before_connecting(tmp_path: Path) -> None:
    with (
        RawNode("silent") as listener,
        start_registry(tmp_path / "r.sqlite3", tokens=TOKENS, allow_loopback=False) as registry,
    ):
        expected = [(listener.url, f"127.0.0.1 is a loopback address (127.0.0.0/8), {NEVER}{LOOPBACK_FLAG}")]
        expected += [(url_of(address), f"{reason}, {NEVER}{LOOPBACK_FLAG}") for address, reason in LOOPBACK]
        expected += [(url_of(address), f"{reason}, {NEVER}{PRIVATE_FLAG}") for address, reason in PRIVATE[:3]]
        expected += [(url_of(address), f"{reason}, {NEVER}") for address, reason in SPECIAL_PURPOSE[:3]]
        for url, reason in expected:
            refused = post_node(registry, url)
            assert refused.status_code == 422, (url, refused.text)
            assert message(refused) == f"'url' {reason}", url
        localhost = post_node(registry, "http://localhost:22")
        assert message(localhost).startswith("'url' 'localhost' resolves to ")
        assert LOOPBACK_FLAG in message(localhost)
        assert registry.http.get("/v1/nodes").json() == {"data": []}
        time.sleep(0.3)
        assert listener.connections == 0


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


NAMES = {
    "intranet.test": ["10.1.2.3"],
    "mixed.test": ["1.1.1.1", "127.0.0.1"],
    "six.test": ["2002:7f00:1::"],
    "teredo.test": ["1.1.1.1", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
    "mapped.test": ["::ffff:192.0.2.5"],
    "sitelocal.test": ["fec0::1%eth0"],
    "bench.test": ["198.18.4.4"],
}


async def test_a_name_is_checked_by_every_address_it_resolves_to() -> None:
    resolve = resolver_of(NAMES)
    everything = AddressPolicy(allow_loopback=True, allow_private=True)
    for name, said in [
        ("six.test", "resolves to 2002:7f00:1::, a special-purpose address (6to4, 2002::/16, carrying loopback 127.0.0.1)"),
        ("teredo.test", "resolves to 2001:0:4136:e378:8000:63bf:80ff:fffe, a special-purpose address (Teredo"),
        ("mapped.test", "resolves to 192.0.2.5, a special-purpose address (documentation, 192.0.2.0/24)"),
        ("bench.test", "resolves to 198.18.4.4, a special-purpose address (benchmarking, 198.18.0.0/15)"),
    ]:
        with pytest.raises(AddressError) as refused:
            await allowed_addresses(parse_node_url(f"http://{name}:8080"), everything, resolve, 1.0)
        assert str(refused.value).startswith(f"{name!r} {said}"), str(refused.value)
    policy = AddressPolicy()
    with pytest.raises(AddressError, match=r"'intranet.test' resolves to 10.1.2.3, a private address \(10.0.0.0/8\)"):
        await allowed_addresses(parse_node_url("http://intranet.test:8080"), policy, resolve, 1.0)
    with pytest.raises(AddressError, match=r"'sitelocal.test' resolves to fec0::1, a private address \(site-local"):
        await allowed_addresses(parse_node_url("http://sitelocal.test:8080"), policy, resolve, 1.0)
    with pytest.raises(AddressError, match="resolves to 127.0.0.1, a loopback address"):
        await allowed_addresses(parse_node_url("http://mixed.test"), policy, resolve, 1.0)
    with pytest.raises(AddressError, match="could not be resolved"):
        await allowed_addresses(parse_node_url("http://nowhere.test"), policy, resolve, 1.0)
    private = AddressPolicy(allow_private=True)
    allowed = await allowed_addresses(parse_node_url("http://intranet.test"), private, resolve, 1.0)
    assert allowed == [ipaddress.ip_address("10.1.2.3")]


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("10.9.8.7", "a private address (10.0.0.0/8), which this registry does not probe" + PRIVATE_FLAG),
        ("2002:7f00:1::", "a special-purpose address (6to4, 2002::/16, carrying loopback 127.0.0.1), " + NEVER),
    ],
)
async def test_a_probe_is_refused_before_connecting_when_the_name_now_points_inside(target: str, said: str) -> None:
    calls: list[httpx.Request] = []
    resolve = resolver_of({"rebinding.test": [target]})
    async with httpx.AsyncClient(transport=refusing_transport(calls)) as client:
        result = await probe_node(
            "http://rebinding.test:8080",
            [MODEL],
            None,
            ownership_keys=[ownership_key(TOKENS["alice"])],
            policy=AddressPolicy(allow_loopback=True),
            resolver=resolve,
            client=client,
            timeout_s=1.0,
        )
    assert (result.ok, result.error) == (False, f"not probed: 'rebinding.test' resolves to {target}, {said}")
    assert calls == []


async def test_a_probe_connects_to_the_address_it_checked_and_asks_who_runs_the_node() -> None:
    seen: list[httpx.Request] = []
    key = ownership_key(TOKENS["alice"])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/freescode/ownership"):
            query = parse_qs(request.url.query.decode())
            answer: dict[str, Any] = {"proof": proof(key, query["nonce"][0], query["endpoint"][0])}
        elif request.url.path.endswith("/v1/models"):
            answer = {"data": [{"id": MODEL}, {"id": "other"}]}
        else:
            answer = {"status": "ok"}
        return httpx.Response(200, stream=httpx.ByteStream(json.dumps(answer).encode()))

    resolve = resolver_of({"node.test": ["127.0.0.1"]})
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await probe_node(
            "http://node.test:8080/gw",
            [MODEL, "code-llama-7b"],
            "k",
            ownership_keys=[key],
            policy=AddressPolicy(allow_loopback=True),
            resolver=resolve,
            client=client,
            timeout_s=1.0,
        )
    assert (result.ok, result.served, result.error) == (True, (MODEL,), None)
    assert [r.url.copy_with(query=None) for r in seen] == [
        "http://127.0.0.1:8080/gw/freescode/ownership",
        "http://127.0.0.1:8080/gw/v1/models",
        "http://127.0.0.1:8080/gw/health",
    ]
    assert parse_qs(seen[0].url.query.decode())["endpoint"] == ["http://node.test:8080/gw"]
    assert {r.headers["host"] for r in seen} == {"node.test:8080"}
    assert [r.headers.get("authorization") for r in seen] == [None, "Bearer k", "Bearer k"]


async def test_registering_a_name_that_points_inside_is_refused_before_any_connection(tmp_path: Path) -> None:
    resolve = resolver_of({"intranet.test": ["192.168.7.7"]})
    store = RegistryStore(tmp_path / "r.sqlite3")
    app = RegistryApp(store, OperatorTokens([("alice", TOKENS["alice"])]), RegistrySettings(), resolve)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app.starlette()), base_url="http://r") as http:
            body = {"url": "http://intranet.test:8080", "models": [MODEL], "price_per_1k": 0, "context": 4096}
            refused = await http.post("/v1/nodes", json=body, headers=ALICE)
            assert refused.status_code == 422
            assert message(refused) == (
                f"'url' 'intranet.test' resolves to 192.168.7.7, a private address (192.168.0.0/16), {NEVER}{PRIVATE_FLAG}"
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
