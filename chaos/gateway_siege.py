"""A siege of a real gateway: hundreds of hostile connections while an honest client keeps asking.

The hostile connections (idle, headers one byte a second, bodies one byte a second) come from a few
addresses of the loopback network, PER_ADDRESS from each (more than the gateway lets one address hold), and
are opened again one second after each time the gateway cuts or refuses them. The gateway runs with its
defaults (4 slots, a queue of 8, 32 connections per address) under the usual limit of 1,024 open files.
An honest client asks twice a second from its own address: every one of its requests must be answered 200,
and the gateway must never run out of file descriptors. A neighbour asks as often from an address the
attackers use; it shares that address's connections, so how often it is answered is reported, not required.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from chaos.common import CampaignResult, rss_kb, scratch_home
from chaos.gateway_load import MODEL, chat, gauges
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.slow_clients import KINDS, Held, hold
from freescode_lsp.testing.stub_node import StubNode, start_stub_node

OPEN_FILES = 1024
HOLD_S = 40.0
HONEST_EVERY_S = 0.5
HONEST_TIMEOUT_S = 30.0
PER_ADDRESS = 40
HONEST_SOURCE = "127.0.0.1"
OUT_OF_FILES = ("Too many open files", "out of system resource")


def hostile_sources(count: int) -> list[str]:
    """The loopback addresses the hostile connections come from, PER_ADDRESS to each."""
    return [f"127.0.1.{1 + n}" for n in range(max(1, -(-count // PER_ADDRESS)))]


def open_files(pid: int) -> int:
    """How many files a process holds open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def _start(home: Path, limit: int) -> tuple[StubNode, NodeProcess]:
    """A stub engine and a gateway in front of it with the defaults, its open files limited to `limit`."""
    engine = start_stub_node({"models": [MODEL]})
    try:
        directory = Path(tempfile.mkdtemp(prefix="siege-", dir=home))
        gateway = start_gateway(directory, "--model", MODEL, "--engine-url", engine.url)
    except BaseException:
        engine.stop()
        raise
    try:
        resource.prlimit(gateway.process.pid, resource.RLIMIT_NOFILE, (limit, limit))
    except BaseException:
        gateway.stop()
        engine.stop()
        raise
    return engine, gateway


async def _ask(gateway: NodeProcess, source: str, n: int) -> tuple[float, str | None]:
    """One request on a fresh connection from `source`: how long it took, and what went wrong (None: 200)."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    started = time.monotonic()
    try:
        async with httpx.AsyncClient(transport=transport, timeout=HONEST_TIMEOUT_S) as client:
            answer = await client.post(f"{gateway.url}/v1/chat/completions", json=chat(f"honest {n}", stream=False))
    except httpx.HTTPError as exc:
        return time.monotonic() - started, f"{type(exc).__name__}: {exc}"
    problem = None if answer.status_code == 200 else f"answered {answer.status_code}: {answer.text[:200]}"
    return time.monotonic() - started, problem


async def _watch(pid: int, until: float, peaks: dict[str, int]) -> None:
    """Keep the gateway's peak open files and memory while the siege lasts."""
    while time.monotonic() < until:
        with contextlib.suppress(OSError):
            peaks["fds"] = max(peaks["fds"], open_files(pid))
            peaks["rss_kb"] = max(peaks["rss_kb"], rss_kb(pid))
        await asyncio.sleep(0.1)


async def siege(gateway: NodeProcess, hostile: int, hold_s: float, result: CampaignResult) -> list[Held]:
    """Hold `hostile` connections for `hold_s` while the honest client asks; the hostile clients' outcomes."""
    sources = hostile_sources(hostile)
    pid = gateway.process.pid
    peaks = {"fds": open_files(pid), "rss_kb": rss_kb(pid)}
    until = time.monotonic() + hold_s
    attackers = [
        asyncio.ensure_future(hold(gateway.port, KINDS[n % len(KINDS)], sources[n % len(sources)], hold_s, reconnect=True))
        for n in range(hostile)
    ]
    watcher = asyncio.ensure_future(_watch(pid, until, peaks))
    honest, neighbour = [], []
    while time.monotonic() < until:
        honest.append(asyncio.ensure_future(_ask(gateway, HONEST_SOURCE, len(honest))))
        neighbour.append(asyncio.ensure_future(_ask(gateway, sources[0], len(neighbour))))
        await asyncio.sleep(HONEST_EVERY_S)
    answers = await asyncio.gather(*honest)
    neighbours = await asyncio.gather(*neighbour)
    held = await asyncio.gather(*attackers)
    await watcher
    for n, (_, problem) in enumerate(answers):
        result.tried += 1
        if problem is not None:
            result.fail(n, f"the honest request from {HONEST_SOURCE}: {problem}")
    seconds = [took for took, problem in answers if problem is None]
    result.figures.update(
        {
            "honest_seconds_p50": round(statistics.median(seconds), 3) if seconds else -1,
            "honest_seconds_max": round(max(seconds), 3) if seconds else -1,
            "neighbour_asked": len(neighbours),
            "neighbour_answered_200": sum(problem is None for _, problem in neighbours),
            "gateway_fds_peak": peaks["fds"],
            "gateway_rss_mib_peak": round(peaks["rss_kb"] / 1024, 1),
        }
    )
    return held


def _report(gateway: NodeProcess, held: list[Held], limit: int, hostile: int, result: CampaignResult) -> None:
    """Figures and failures from the hostile clients' outcomes, the gateway's metrics and its log."""
    samples = gauges(gateway)
    closed = {
        line.split('reason="')[1].split('"')[0]: int(value)
        for line, value in samples.items()
        if line.startswith("freescode_node_connections_closed_total")
    }
    connects = sum(h.connects for h in held)
    cut_s = [s for h in held for s in h.closed_after_s]
    result.figures.update(
        {
            "hostile_clients": hostile,
            "hostile_connections_opened": connects,
            "hostile_connects_failed": sum(h.failed_connects for h in held),
            "hostile_cut_median_seconds": round(statistics.median(cut_s), 2) if cut_s else -1,
            "hostile_still_open_at_end": sum(h.open_at_end for h in held),
            **{f"gateway_closed_{reason}": count for reason, count in sorted(closed.items())},
        }
    )
    log = gateway.log()
    if any(words in log for words in OUT_OF_FILES):
        result.fail(result.tried, f"the gateway ran out of file descriptors (limit {limit})")
    if result.figures["gateway_fds_peak"] >= limit:
        result.fail(result.tried, f"the gateway held {result.figures['gateway_fds_peak']} files, its limit is {limit}")
    result.notes.append(
        f"{hostile} hostile connections from {len(hostile_sources(hostile))} addresses ({connects} opened in all, cut"
        f" after {result.figures['hostile_cut_median_seconds']} s median), gateway limited to {limit} open files:"
        f" {result.tried - len(result.failures)} of {result.tried} honest requests answered 200, p50"
        f" {result.figures['honest_seconds_p50']} s, max {result.figures['honest_seconds_max']} s; the neighbour"
        f" {result.figures['neighbour_answered_200']:g} of {result.figures['neighbour_asked']:g}; gateway open files"
        f" peak {result.figures['gateway_fds_peak']}; closed by the gateway: {dict(sorted(closed.items()))}"
    )


async def run(trials: int, seed: int, open_files_limit: int = OPEN_FILES, hold_s: float = HOLD_S) -> CampaignResult:
    """`trials` hostile connections for `hold_s` against a gateway limited to `open_files_limit` open files."""
    result = CampaignResult("gateway siege")
    started = time.monotonic()
    with scratch_home() as home:
        engine, gateway = await asyncio.to_thread(_start, Path(home), open_files_limit)
        try:
            async with httpx.AsyncClient(base_url=gateway.url, timeout=HONEST_TIMEOUT_S) as client:
                await client.post("/v1/chat/completions", json=chat("warm up", stream=False))
            held = await siege(gateway, trials, hold_s, result)
            await asyncio.to_thread(_report, gateway, held, open_files_limit, trials, result)
        finally:
            await asyncio.to_thread(gateway.stop)
            await asyncio.to_thread(engine.stop)
    result.seconds = time.monotonic() - started
    return result
