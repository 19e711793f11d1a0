"""Registry abuse: bad tokens, forged heartbeats, takeovers and bounded floods are refused; honest nodes stay.

A takeover is another operator registering the honest node's URL: its node cannot prove that operator runs
it, so the answer is 403. Then hostile operators, nodes and clients (chaos/registry_nodes.py): endpoint
aliases, challenge and prober starvation, huge answers, registration floods, scanning and slow clients, each
reported with its figures.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import httpx

from chaos import registry_nodes
from chaos.common import CampaignResult, scratch_home
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.registry_process import start_registry
from freescode_lsp.testing.stub_node import start_stub_node

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
ALICE = {"Authorization": f"Bearer {TOKENS['alice']}"}
BOB = {"Authorization": f"Bearer {TOKENS['bob']}"}
MODEL = "mistral-7b"
CONCURRENCY = 25


def _abuse(rng: random.Random, node_id: str, honest_url: str) -> tuple[str, str, str, dict[str, Any], set[int]]:
    """One hostile request: name, method, path, httpx keyword arguments, the statuses that mean refused."""
    bad = rng.choice(
        [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "Basic YWxpY2U6eA=="},
            {"Authorization": "Bearer " + "x" * 5000},
            {"Authorization": "Bearer"},
        ]
    )
    registration = {
        "url": honest_url,
        "models": [MODEL],
        "price_per_1k": 0.0,
        "context": 8192,
    }
    choices = [
        (
            "bad token register",
            "POST",
            "/v1/nodes",
            {"json": registration, "headers": bad},
            {401},
        ),
        (
            "bad token heartbeat",
            "POST",
            f"/v1/nodes/{node_id}/heartbeat",
            {"json": {"load": 9}, "headers": bad},
            {401},
        ),
        ("bad token delete", "DELETE", f"/v1/nodes/{node_id}", {"headers": bad}, {401}),
        (
            "forged heartbeat",
            "POST",
            f"/v1/nodes/{node_id}/heartbeat",
            {"json": {"load": 99, "ttft_ms": 1, "tokens_per_s": 1e6}, "headers": BOB},
            {403},
        ),
        ("forged delete", "DELETE", f"/v1/nodes/{node_id}", {"headers": BOB}, {403}),
        (
            "url takeover",
            "POST",
            "/v1/nodes",
            {"json": registration, "headers": BOB},
            {403, 429},
        ),
        (
            "bad token catalog",
            "POST",
            "/v1/catalog",
            {"json": {"id": MODEL, "context": 1}, "headers": bad},
            {401},
        ),
        (
            "catalog overwrite",
            "POST",
            "/v1/catalog",
            {"json": {"id": MODEL, "context": 1}, "headers": BOB},
            {409},
        ),
        (
            "garbage body",
            "POST",
            f"/v1/nodes/{node_id}/heartbeat",
            {
                "content": rng.randbytes(64),
                "headers": {**ALICE, "Content-Type": "application/json"},
            },
            {400, 422},
        ),
        (
            "unknown node",
            "POST",
            f"/v1/nodes/node-{rng.randrange(10**9)}/heartbeat",
            {"json": {}, "headers": BOB},
            {404},
        ),
    ]
    return rng.choice(choices)


def _listing(hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hosts without the heartbeat time, which honest heartbeats move."""
    return [{k: v for k, v in host.items() if k != "last_seen"} for host in hosts]


async def run(trials: int, seed: int, hostile_nodes: bool = True) -> CampaignResult:
    """`trials` abusive requests, sent concurrently in bounded waves, against one registry; then the hostile nodes."""
    result = CampaignResult("registry abuse")
    rng = random.Random(seed)
    started = time.monotonic()
    node = start_stub_node({"models": [MODEL], "operator_token": TOKENS["alice"]})
    try:
        with scratch_home() as home:
            registry = start_registry(Path(home) / "registry.sqlite3", tokens=TOKENS, probe_interval_s=0.3)
            try:
                await _campaign(registry, node.url, trials, rng, result)
            finally:
                registry.stop()
            if hostile_nodes:
                await asyncio.to_thread(registry_nodes.run_all, Path(home), result)
    finally:
        node.stop()
    result.seconds = time.monotonic() - started
    return result


async def _campaign(
    registry: Any,
    honest_url: str,
    trials: int,
    rng: random.Random,
    result: CampaignResult,
) -> None:
    """Register the honest node, flood, then check it is listed exactly as before."""
    body = {
        "url": honest_url,
        "models": [MODEL],
        "price_per_1k": 0.0005,
        "context": 8192,
    }
    node_id = registry.http.post("/v1/nodes", json=body, headers=ALICE).json()["node_id"]
    registry.http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.1}, headers=ALICE).raise_for_status()
    before = wait_for(
        lambda: registry.http.get(f"/v1/models/{MODEL}").json()["available_hosts"],
        "the honest node",
    )
    tally: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=registry.url, timeout=30) as http:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int) -> None:
            name, method, path, kwargs, refused = _abuse(rng, node_id, honest_url)
            tally[name] = tally.get(name, 0) + 1
            async with gate:
                try:
                    response = await http.request(method, path, **kwargs)
                except httpx.HTTPError as exc:
                    result.fail(n, f"{name}: {type(exc).__name__}: {exc}")
                    return
            if response.status_code not in refused:
                result.fail(
                    n,
                    f"{name}: status {response.status_code}, expected {sorted(refused)}: {response.text[:200]}",
                )

        await asyncio.gather(*(one(n) for n in range(trials)))
        result.tried = trials
        honest = await http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.1}, headers=ALICE)
        if honest.status_code != 200:
            result.fail(trials, f"the honest heartbeat after the flood got {honest.status_code}")
        after = (await http.get(f"/v1/models/{MODEL}")).json()["available_hosts"]
        nodes = (await http.get("/v1/nodes")).json()["data"]
    if _listing(after) != _listing(before):
        result.fail(trials, f"the honest node's listing changed: {before} -> {after}")
    if len(nodes) != 1:
        result.fail(trials, f"{len(nodes)} nodes registered after the flood, expected 1")
    result.notes.append(", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
