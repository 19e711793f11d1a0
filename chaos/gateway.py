"""Attacks on a real node gateway in front of a stub engine: path tricks, usage dodging, stalls and disconnects.

Every part runs against `freescode node serve --engine-url` on 127.0.0.1 and reports its own result line: how
many requests reached the engine on a path it does not serve, whether the ledger bills what the engine
generated, the gateway's memory under stalled uploads and the wait of an honest client, and the engine
requests caused by clients that left while queued or mid-stream.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from chaos import gateway_load, gateway_uploads
from chaos.common import CampaignResult, scratch_home
from chaos.gateway_http import SERVED_PATHS, TRICKS, raw_status
from freescode_lsp.mesh.node.ledger import NodeLedger
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.stub_node import StubNode, start_stub_node

MODEL = "stub-model"
LEDGER_WAIT_S = 10.0
DODGES: dict[str, dict[str, Any]] = {
    "include_usage false": {"stream": True, "stream_options": {"include_usage": False}},
    "include_usage 0": {"stream": True, "stream_options": {"include_usage": 0}},
    "stream_options absent": {"stream": True},
    "stream_options null": {"stream": True, "stream_options": None},
    "stream_options a string": {
        "stream": True,
        "stream_options": "include_usage=false",
    },
    "stream_options a list": {
        "stream": True,
        "stream_options": [{"include_usage": False}],
    },
    "stream_options a number": {"stream": True, "stream_options": 0},
    "not streamed": {"stream": False},
    "stream 1": {"stream": 1},
    "stream a string": {"stream": "true"},
}
POISON = "include_usage false after a refusal echoing stream_options"
ECHOING_REFUSAL = {
    "status": 422,
    "error_message": "messages: Field required; input: {'model': 'stub-model', 'stream': True,"
    " 'stream_options': {'include_usage': True}}",
}


def start_pair(home: Path, *args: str) -> tuple[StubNode, NodeProcess]:
    """A stub engine and a gateway in front of it with its own ledger; extra gateway arguments as given."""
    engine = start_stub_node({"models": [MODEL]})
    try:
        directory = Path(tempfile.mkdtemp(prefix="gateway-", dir=home))
        return engine, start_gateway(directory, "--model", MODEL, "--engine-url", engine.url, *args)
    except BaseException:
        engine.stop()
        raise


def stop_pair(engine: StubNode, gateway: NodeProcess) -> None:
    """Stop the gateway, then its engine."""
    gateway.stop()
    engine.stop()


def path_tricks(engine: StubNode, gateway: NodeProcess, trials: int) -> CampaignResult:
    """`trials` spellings aimed at other engine paths; none may reach the engine on a path it does not serve."""
    result = CampaignResult("gateway path tricks")
    started = time.monotonic()
    engine.reset({"models": [MODEL], "default": {"chunks": ["ok"]}})
    statuses: collections.Counter[int] = collections.Counter()
    elsewhere = 0
    for n in range(trials):
        method, target = TRICKS[n % len(TRICKS)]
        result.tried += 1
        body = json.dumps({"model": MODEL, "name": "some/model", "prompt": "x", "stream": False}).encode()
        try:
            status = raw_status(gateway.port, method, target, body if method != "GET" else b"")
        except OSError as exc:
            result.fail(n, f"{method} {target!r}: {type(exc).__name__}: {exc}")
            continue
        statuses[status] += 1
        strays = [r for r in engine.records() if (r["method"], r["path"]) not in SERVED_PATHS]
        if strays:
            elsewhere += len(strays)
            result.fail(
                n,
                f"{method} {target!r} reached the engine at {[(r['method'], r['path']) for r in strays]}",
            )
            engine.clear()
    served = len(engine.records())
    result.figures.update({"engine_requests_elsewhere": elsewhere, "engine_requests_served_paths": served})
    result.notes.append(
        f"{result.tried} of {len(TRICKS)} spellings; {elsewhere} reached another engine path, {served} resolved to a"
        f" served one; statuses {dict(sorted(statuses.items()))}"
    )
    result.seconds = time.monotonic() - started
    return result


def _billed(ledger: NodeLedger) -> tuple[int, int]:
    """Requests and completion tokens in the gateway's ledger, over every client."""
    rows = ledger.by_client()
    return sum(r.requests for r in rows), sum(r.completion_tokens for r in rows)


async def _ledger_after(ledger: NodeLedger, requests: int) -> tuple[int, int]:
    """The ledger's totals once it holds `requests` requests, or as they are after LEDGER_WAIT_S."""
    deadline = time.monotonic() + LEDGER_WAIT_S
    while True:
        found = await asyncio.to_thread(_billed, ledger)
        if found[0] >= requests or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.02)


async def usage_dodging(engine: StubNode, gateway: NodeProcess, trials: int, rng: random.Random) -> CampaignResult:
    """`trials` requests that try not to be billed; the ledger must bill exactly what the engine generated."""
    result = CampaignResult("gateway usage dodging")
    started = time.monotonic()
    ledger = NodeLedger(gateway.ledger)
    kinds = [*DODGES, POISON]
    generated = 0
    tally: collections.Counter[str] = collections.Counter()
    try:
        requests, first_billed = await asyncio.to_thread(_billed, ledger)
        billed = first_billed
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
            for n in range(trials):
                kind = kinds[n % len(kinds)] if n < len(kinds) else rng.choice(kinds)
                result.tried += 1
                try:
                    tokens, outcome = await _dodge(client, engine, kind, rng)
                except httpx.HTTPError as exc:
                    result.fail(n, f"{kind}: {type(exc).__name__}: {exc}")
                    continue
                tally[f"{kind} ({outcome})"] += 1
                if outcome != "served":
                    if outcome != "refused":
                        result.fail(n, f"{kind}: {outcome}")
                    continue
                generated += tokens
                requests, now = await _ledger_after(ledger, requests + 1)
                if now - billed != tokens:
                    result.fail(
                        n,
                        f"{kind}: billed {now - billed} completion tokens, the engine generated {tokens}",
                    )
                billed = now
        total = (await asyncio.to_thread(_billed, ledger))[1] - first_billed
    finally:
        ledger.close()
    if total != generated:
        result.fail(trials, f"billed {total} completion tokens in all, generated {generated}")
    result.figures.update({"generated_completion_tokens": generated, "billed_completion_tokens": total})
    result.notes.append(f"billed {total} completion tokens, the engine generated {generated}; {dict(tally)}")
    result.seconds = time.monotonic() - started
    return result


async def _dodge(client: httpx.AsyncClient, engine: StubNode, kind: str, rng: random.Random) -> tuple[int, str]:
    """One dodging request; the completion tokens the engine generated and "served", "refused" or what went wrong."""
    pieces = [f"w{i} " for i in range(rng.randint(1, 8))]
    tokens = len(pieces) * 3 + rng.randint(1, 5)
    answer = {
        "chunks": pieces,
        "usage": {"prompt_tokens": 5, "completion_tokens": tokens},
    }
    queue = [ECHOING_REFUSAL, ECHOING_REFUSAL, answer] if kind == POISON else [answer]
    await asyncio.to_thread(engine.reset, {"models": [MODEL], "queue": queue})
    if kind == POISON:
        bad = await client.post("/v1/chat/completions", json={"model": MODEL, "stream": True})
        if bad.status_code != 422:
            return 0, f"the request without messages got {bad.status_code}"
    endpoint, body = _dodging_body(rng, DODGES.get(kind, DODGES["include_usage false"]))
    response = await client.post(endpoint, json=body)
    if response.status_code == 200:
        return tokens, "served"
    if response.status_code == 400 and not await asyncio.to_thread(engine.records):
        return 0, "refused"
    return 0, f"status {response.status_code}: {response.text[:200]}"


def _dodging_body(rng: random.Random, dodge: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The endpoint and body of one dodging request."""
    if rng.random() < 0.5:
        return "/v1/completions", {"model": MODEL, "prompt": "say hi", **dodge}
    return "/v1/chat/completions", {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        **dodge,
    }


async def run(trials: int, seed: int) -> list[CampaignResult]:
    """Path tricks, usage dodging, stalled uploads and disconnects, sized from `trials`; one result each."""
    rng = random.Random(seed)
    results: list[CampaignResult] = []
    with scratch_home() as home:
        engine, gateway = await asyncio.to_thread(start_pair, Path(home), "--max-concurrent", "1", "--queue", "8")
        try:
            results.append(await asyncio.to_thread(path_tricks, engine, gateway, min(trials, len(TRICKS))))
            results.append(await usage_dodging(engine, gateway, trials, rng))
            results.extend(await gateway_load.disconnects(engine, gateway, max(2, trials // 4)))
        finally:
            await asyncio.to_thread(stop_pair, engine, gateway)
        results.append(await gateway_uploads.stalled_uploads(Path(home), max(1, trials // 5)))
    return results
