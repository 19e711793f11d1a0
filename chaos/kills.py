"""Streams whose node dies mid-answer while another node lives: exact text or a clear error, every attempt metered.

The faults: a stub node drops its connection, both nodes drop theirs, a node's process is killed; and behind a
real node gateway (`freescode node serve --engine-url`), its engine drops the connection, its process exits,
it hangs, or it ends its answer early without an end marker. In every case the answer must come back whole
(continued on the other node) or as a clear error, never cut short.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from chaos.common import CampaignResult, scratch_home
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.routing.metering import Ledger
from freescode_lsp.routing.router import AllCandidatesFailed, Router
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.stub_node import StubNode, start_stub_node

MODEL = "code-llama-7b"
DEADLINE_S = 5.0
GAP_S = 1.0
WORDS = [
    "def",
    " f",
    "(x)",
    ":\n",
    "    return",
    " x",
    " +",
    " 1",
    "\n",
    "# done",
    "\n",
]
KINDS = [
    "die_after",
    "gateway_ends_early",
    "both_die",
    "gateway_dies",
    "kill_process",
    "gateway_hangs",
    "die_after",
    "gateway_exits",
]
GATEWAY_FAULTS = {
    "gateway_dies": "die_after",
    "gateway_exits": "exit_after",
    "gateway_hangs": "hang_after",
    "gateway_ends_early": "end_after",
}


class Fleet:
    """Two stub nodes, and a gateway in front of a third stub as its engine; restarted when a process dies."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.nodes = [start_stub_node(), start_stub_node()]
        self.engine: StubNode = start_stub_node()
        self.gateway: NodeProcess = self._gateway()

    def _gateway(self) -> NodeProcess:
        directory = Path(tempfile.mkdtemp(prefix="gateway-", dir=self.home))
        return start_gateway(directory, "--model", MODEL, "--engine-url", self.engine.url)

    def revive(self) -> None:
        """Start again whatever process a trial stopped."""
        if self.nodes[0].process.poll() is not None:
            self.nodes[0].stop()
            self.nodes[0] = start_stub_node()
        if self.engine.process.poll() is not None:
            self.gateway.stop()
            self.engine.stop()
            self.engine = start_stub_node()
            self.gateway = self._gateway()

    def stop(self) -> None:
        """Stop every process."""
        self.gateway.stop()
        for node in [*self.nodes, self.engine]:
            node.stop()


def _router(urls: list[str], ledger: Ledger) -> Router:
    nodes = [{"url": url, "models": [MODEL], "price_per_1k": 0.001 * (i * 9 + 1)} for i, url in enumerate(urls)]
    raw = {
        "nodes": nodes,
        "network": {
            "mode": "remote-only",
            "total_timeout_s": DEADLINE_S,
            "first_token_timeout_s": GAP_S * 2,
            "chunk_gap_timeout_s": GAP_S,
        },
    }
    router = Router.from_settings(settings_from_dict(raw).settings)
    router.ledger = ledger
    return router


async def _close(router: Router) -> None:
    for engine in router.remotes:
        await engine.aclose()


async def _collect(router: Router, request: GenerationRequest) -> tuple[str, str | None, float]:
    """The streamed text, the error that ended it (if any) and the seconds it took."""
    started = time.monotonic()
    text = ""
    try:
        async with asyncio.timeout(DEADLINE_S + 5):
            async for chunk in router.stream(request):
                text += chunk.text
    except AllCandidatesFailed as exc:
        return text, str(exc), time.monotonic() - started
    return text, None, time.monotonic() - started


def _kill_later(node: StubNode, after_s: float) -> asyncio.Task[None]:
    async def kill() -> None:
        await asyncio.sleep(after_s)
        node.process.kill()

    return asyncio.get_running_loop().create_task(kill())


def _asked(node: StubNode) -> list[Any]:
    """The generation requests a node received; a dead node received the one that killed it."""
    return [None] if node.process.poll() is not None else node.requests()


async def _trial(fleet: Fleet, ledger: Ledger, rng: random.Random, n: int, result: CampaignResult) -> str:
    """One stream with a fault; returns the kind of fault for the tally."""
    words = WORDS[: rng.randint(3, len(WORDS))]
    expected = "".join(words)
    cut = rng.randrange(0, len(words))
    first, second = fleet.nodes
    kind = KINDS[n % len(KINDS)] if n < len(KINDS) else rng.choice(KINDS)
    restart = kind == "kill_process" or rng.random() < 0.5
    first.reset({"default": {"chunks": words, "die_after": cut, "delay_s": 0.002}})
    if kind == "both_die":
        second.reset({"default": {"chunks": words, "die_after": rng.randrange(0, len(words)), "delay_s": 0.002}})
    else:
        second.reset({"default": {"chunks": words if restart else words[cut:], "delay_s": 0.002}})
    if kind == "kill_process":
        first.reset({"default": {"chunks": words, "delay_s": 0.05}})
    faulty: StubNode = first
    urls = [first.url, second.url]
    if kind in GATEWAY_FAULTS:
        faulty = fleet.engine
        faulty.reset({"default": {"chunks": words, GATEWAY_FAULTS[kind]: cut, "delay_s": 0.002}})
        urls = [fleet.gateway.url, second.url]
    router = _router(urls, ledger)
    before = len(ledger.attempts(limit=1_000_000))
    prompt = f"# trial {n}\n"
    killer = _kill_later(first, rng.uniform(0.0, 0.05 * len(words))) if kind == "kill_process" else None
    try:
        text, error, seconds = await _collect(router, GenerationRequest(MODEL, prompt=prompt, max_tokens=64))
    finally:
        await _close(router)
    if killer is not None:
        await killer
        await asyncio.to_thread(first.process.wait, 10)
    if kind == "gateway_exits":
        await asyncio.to_thread(faulty.process.wait, 10)
    faulty_asked = bool(_asked(faulty))
    attempts = len(ledger.attempts(limit=1_000_000)) - before
    served_count = len(_asked(faulty)) + len(second.requests())
    if attempts != served_count:
        result.fail(n, f"{kind}: ledger has {attempts} attempts for {served_count} requests")
    if seconds > DEADLINE_S + 1:
        result.fail(n, f"{kind}: took {seconds:.1f}s, over the {DEADLINE_S}s deadline")
    if error is not None:
        if kind != "both_die" or "no model could answer" not in error:
            result.fail(n, f"{kind}: unexpected error {error!r} (text so far {text!r})")
        return f"{kind} -> clear error"
    want = expected if (faulty_asked or restart) else "".join(words[cut:])
    if text != want:
        result.fail(n, f"{kind}: got {text!r}, expected {want!r} (cut {cut}, restart {restart})")
    if kind not in ("kill_process", "both_die") and faulty_asked and second.requests():
        sent = second.requests()[0].get("prompt")
        if sent != prompt + "".join(words[:cut]):
            result.fail(n, f"{kind}: the retry's prompt was {sent!r}, not the continuation")
    return f"{kind} -> complete"


async def run(trials: int, seed: int) -> CampaignResult:
    """Node-kill trials against two stub nodes and a gateway, restarting whatever process a trial stopped."""
    result = CampaignResult("node kills")
    rng = random.Random(seed)
    started = time.monotonic()
    tally: list[str] = []
    with scratch_home() as home:
        ledger = Ledger(Path(home) / "usage.sqlite3")
        fleet = Fleet(Path(home))
        try:
            for n in range(trials):
                result.tried += 1
                try:
                    tally.append(await _trial(fleet, ledger, rng, n, result))
                except Exception as exc:  # noqa: BLE001 - a crashed trial is a failure, not the end
                    result.fail(n, f"{type(exc).__name__}: {exc}")
                fleet.revive()
        finally:
            fleet.stop()
            ledger.close()
    result.notes = [f"{kind}: {tally.count(kind)}" for kind in sorted(set(tally))]
    result.seconds = time.monotonic() - started
    return result
