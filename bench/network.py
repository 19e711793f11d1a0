"""Gateway + routing overhead against a direct call to the same engine, and failover time, in one run."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from bench.common import Row
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.routing.router import Router
from freescode_lsp.testing.node_process import start_gateway
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.stub_node import start_stub_node

ROUNDS = 60
CHUNKS = 20
SCRIPT = {"models": ["code-llama-7b"], "default": {"chunks": [f"tok{i} " for i in range(CHUNKS)], "delay_s": 0.002}}
DIES_AFTER = 10
DYING = {"models": ["code-llama-7b"], "default": {**SCRIPT["default"], "die_after": DIES_AFTER}}


async def direct(client: httpx.AsyncClient, base: str) -> tuple[float, float]:
    """One streamed completion straight to the engine: time to first token and total, seconds."""
    body = {"model": "code-llama-7b", "prompt": "x", "max_tokens": CHUNKS, "stream": True}
    start = time.perf_counter()
    first = None
    async with aconnect_sse(client, "POST", f"{base}/v1/completions", json=body) as events:
        async for event in events.aiter_sse():
            if event.data == "[DONE]":
                break
            if first is None and '"text": "tok' in event.data.replace('":"', '": "'):
                first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


async def routed(router: Router) -> tuple[float, float]:
    """The same through the router (and whatever nodes it is given)."""
    start = time.perf_counter()
    first = None
    async for chunk in router.stream(GenerationRequest("code-llama-7b", prompt="x", max_tokens=CHUNKS)):
        if chunk.text and first is None:
            first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start


def router_for(urls: list[tuple[str, float]]) -> Router:
    nodes = [{"url": url, "models": ["code-llama-7b"], "price_per_1k": price} for url, price in urls]
    settings = settings_from_dict({"nodes": nodes, "network": {"mode": "remote-only"}}).settings
    router = Router.from_settings(settings)
    router.ledger = None
    return router


def p(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def measure() -> dict[str, list[tuple[float, float]]]:
    """Alternating rounds of direct, gateway, failover and alive-only streams on loopback."""
    stub = start_stub_node(SCRIPT)
    dying = start_stub_node(DYING)
    gateway = start_gateway(Path(tempfile.mkdtemp()), "--model", "code-llama-7b", "--engine-url", stub.url)
    try:
        via_gateway = router_for([(gateway.url, 0.0)])
        dead_first = router_for([(f"http://127.0.0.1:{free_port()}", 0.0), (stub.url, 0.05)])
        dies_mid_stream = router_for([(dying.url, 0.0), (stub.url, 0.05)])
        alive_only = router_for([(stub.url, 0.0)])
        results: dict[str, list[tuple[float, float]]] = {"direct": [], "ours": [], "failover": [], "mid_stream": [], "alive": []}
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(5):
                await direct(client, stub.url)
                await routed(via_gateway)
            for _ in range(ROUNDS):
                results["direct"].append(await direct(client, stub.url))
                results["ours"].append(await routed(via_gateway))
                dead_first.book.hosts.clear()
                results["failover"].append(await routed(dead_first))
                dies_mid_stream.book.hosts.clear()
                results["mid_stream"].append(await routed(dies_mid_stream))
                results["alive"].append(await routed(alive_only))
    finally:
        gateway.stop()
        dying.stop()
        stub.stop()
    return results


async def run() -> list[Row]:
    """Gateway + router against direct, and failover against a single live node, as rows (ms)."""
    results = await measure()
    note = f"stub engine on loopback: 20 chunks, 2 ms apart; {ROUNDS} alternating rounds"
    rows = []
    for label, index in (("time to first token", 0), ("total", 1)):
        for share, name in ((0.5, "p50"), (0.99, "p99")):
            ours = p([r[index] for r in results["ours"]], share)
            base = p([r[index] for r in results["direct"]], share)
            rows.append(Row(f"gateway + router vs direct, {label} {name}", ours, base, "ms", note=note, digits=1))
    fail = p([r[0] for r in results["failover"]], 0.5)
    alive = p([r[0] for r in results["alive"]], 0.5)
    rows.append(
        Row("failover, first node dead, vs one live node: time to first token p50", fail, alive, "ms", note=note, digits=1)
    )
    died = p([r[1] for r in results["mid_stream"]], 0.5)
    whole = p([r[1] for r in results["alive"]], 0.5)
    rows.append(
        Row(
            f"failover, node dies after {DIES_AFTER} of {CHUNKS} chunks, vs one live node: total p50",
            died,
            whole,
            "ms",
            note=note,
            digits=1,
        )
    )
    return rows


async def main() -> None:
    rows = await run()
    print(rows[0].note)
    print("| what | ours (ms) | baseline (ms) | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row.what} | {row.ours:.1f} | {row.baseline:.1f} | {row.ratio:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
