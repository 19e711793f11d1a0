"""Gateway attacks by clients that leave: while queued behind a slow request, or mid-stream."""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from chaos.common import CampaignResult, rss_kb
from freescode_lsp.testing.node_process import NodeProcess
from freescode_lsp.testing.stub_node import StubNode

MODEL = "stub-model"
LEAVERS_PER_ROUND = 3
SETTLE_S = 10.0
LEAK_FDS = 8
LEAK_RSS_KB = 20 * 1024


def chat(text: str, stream: bool = True) -> dict[str, object]:
    """A chat request body for the stub engine."""
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    }


def gauges(gateway: NodeProcess) -> dict[str, float]:
    """The gateway's /metrics samples by `name{labels}`."""
    samples = {}
    for line in gateway.http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def open_fds(pid: int) -> int:
    """How many file descriptors a process holds."""
    return len(os.listdir(f"/proc/{pid}/fd"))


async def settled(check: object, timeout_s: float = SETTLE_S) -> bool:
    """Poll a blocking check in a thread until it is true or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await asyncio.to_thread(check):  # type: ignore[arg-type]
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)


def idle(gateway: NodeProcess) -> bool:
    """Whether nothing is in flight or queued at the gateway."""
    samples = gauges(gateway)
    return samples["freescode_node_in_flight"] == 0 and samples["freescode_node_queued"] == 0


async def queued_leavers(engine: StubNode, gateway: NodeProcess, rounds: int) -> CampaignResult:
    """Rounds of one held request, LEAVERS_PER_ROUND clients that give up while queued, then one more request."""
    result = CampaignResult("gateway queued leavers")
    started = time.monotonic()
    extra = 0
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        for r in range(rounds):
            slow = {"chunks": ["slow"], "hold": True}
            await asyncio.to_thread(engine.reset, {"models": [MODEL], "queue": [slow, {"chunks": ["ok"]}]})
            first = asyncio.ensure_future(client.post("/v1/chat/completions", json=chat(f"first {r}")))
            if not await settled(lambda: len(engine.records()) == 1):
                result.fail(r, "the first request never reached the engine")
            for n in range(LEAVERS_PER_ROUND):
                result.tried += 1
                try:
                    await client.post(
                        "/v1/chat/completions",
                        json=chat(f"gone {r}.{n}"),
                        timeout=httpx.Timeout(30, read=0.2),
                    )
                    result.fail(
                        r * LEAVERS_PER_ROUND + n,
                        "a queued request was answered within 0.2 s",
                    )
                except httpx.ReadTimeout:
                    pass
            await asyncio.to_thread(engine.release)
            if (await first).status_code != 200:
                result.fail(r, "the first request failed")
            await settled(lambda: idle(gateway))
            last = await client.post("/v1/chat/completions", json=chat(f"last {r}"))
            if last.status_code != 200:
                result.fail(r, f"the request after the leavers got {last.status_code}")
            sent = [record["body"]["messages"][0]["content"] for record in await asyncio.to_thread(engine.records)]
            extra += len(sent) - 2
            if sent != [f"first {r}", f"last {r}"]:
                result.fail(r, f"the engine was sent {sent}")
    result.figures["extra_engine_requests"] = extra
    result.notes.append(f"{result.tried} clients left while queued; {extra} extra engine requests")
    result.seconds = time.monotonic() - started
    return result


async def midstream_leavers(engine: StubNode, gateway: NodeProcess, trials: int) -> CampaignResult:
    """`trials` clients that leave after the first piece; the engine must see each leave, nothing may leak."""
    result = CampaignResult("gateway mid-stream leavers")
    started = time.monotonic()
    pid = gateway.process.pid
    await asyncio.to_thread(
        engine.reset,
        {"models": [MODEL], "default": {"chunks": ["a"] * 50, "delay_s": 0.1}},
    )
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        await client.post("/v1/chat/completions", json=chat("warm up", stream=False))
        fds_before, rss_before = open_fds(pid), rss_kb(pid)
        for n in range(trials):
            result.tried += 1
            async with client.stream("POST", "/v1/chat/completions", json=chat(f"leave {n}")) as response:
                async for line in response.aiter_lines():
                    if '"a"' in line:
                        break
            if not await settled(lambda: engine.records()[-1]["outcome"] == "disconnected"):
                result.fail(
                    n,
                    f"the engine's stream was not closed: {engine.records()[-1]['outcome']}",
                )
            if not await settled(lambda: idle(gateway)):
                result.fail(n, "the gateway kept the request in flight")
    await settled(lambda: open_fds(pid) <= fds_before + LEAK_FDS, 3)
    fds_after, rss_after = open_fds(pid), rss_kb(pid)
    released = sum(1 for r in await asyncio.to_thread(engine.records) if r["outcome"] == "disconnected")
    if fds_after > fds_before + LEAK_FDS:
        result.fail(trials, f"the gateway's open files grew from {fds_before} to {fds_after}")
    if rss_after - rss_before > LEAK_RSS_KB:
        result.fail(trials, f"the gateway's RSS grew from {rss_before} kB to {rss_after} kB")
    result.figures.update(
        {
            "engine_requests": len(await asyncio.to_thread(engine.records)),
            "engine_streams_released": released,
            "fds_before": fds_before,
            "fds_after": fds_after,
            "rss_mib_before": round(rss_before / 1024, 1),
            "rss_mib_after": round(rss_after / 1024, 1),
        }
    )
    result.notes.append(
        f"{released} of {trials} engine streams closed on leave; gateway fds {fds_before} -> {fds_after}, "
        f"RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB"
    )
    result.seconds = time.monotonic() - started
    return result


async def disconnects(engine: StubNode, gateway: NodeProcess, rounds: int) -> list[CampaignResult]:
    """Queued leavers, then mid-stream leavers, against a gateway with one slot."""
    return [
        await queued_leavers(engine, gateway, rounds),
        await midstream_leavers(engine, gateway, rounds * LEAVERS_PER_ROUND),
    ]
