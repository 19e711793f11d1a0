"""Streams whose node dies mid-answer while another node lives: exact text or a clear error, every attempt metered."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from stub_node import StubNode, start_stub_node

from chaos.common import CampaignResult, scratch_home
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.mesh.metering import Ledger
from freescode_lsp.mesh.router import AllCandidatesFailed, Router

MODEL = "code-llama-7b"
DEADLINE_S = 5.0
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


def _router(urls: list[str], ledger: Ledger) -> Router:
    nodes = [
        {"url": url, "models": [MODEL], "price_per_1k": 0.001 * (i * 9 + 1)}
        for i, url in enumerate(urls)
    ]
    raw = {
        "nodes": nodes,
        "network": {"mode": "remote-only", "total_timeout_s": DEADLINE_S},
    }
    router = Router.from_settings(settings_from_dict(raw).settings)
    router.ledger = ledger
    return router


async def _close(router: Router) -> None:
    for engine in router.remotes:
        await engine.aclose()


async def _collect(
    router: Router, request: GenerationRequest
) -> tuple[str, str | None, float]:
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


async def _trial(
    nodes: list[StubNode],
    ledger: Ledger,
    rng: random.Random,
    n: int,
    result: CampaignResult,
) -> str:
    """One stream with a fault; returns the kind of fault for the tally."""
    words = WORDS[: rng.randint(3, len(WORDS))]
    expected = "".join(words)
    cut = rng.randrange(0, len(words))
    first, second = nodes
    kind = rng.choice(["die_after", "die_after", "both_die", "kill_process"])
    restart = kind == "kill_process" or rng.random() < 0.5
    first.reset({"default": {"chunks": words, "die_after": cut, "delay_s": 0.002}})
    if kind == "both_die":
        second.reset(
            {
                "default": {
                    "chunks": words,
                    "die_after": rng.randrange(0, len(words)),
                    "delay_s": 0.002,
                }
            }
        )
    else:
        second.reset(
            {"default": {"chunks": words if restart else words[cut:], "delay_s": 0.002}}
        )
    if kind == "kill_process":
        first.reset({"default": {"chunks": words, "delay_s": 0.05}})
    router = _router([first.url, second.url], ledger)
    before = len(ledger.attempts(limit=1_000_000))
    prompt = f"# trial {n}\n"
    killer = (
        _kill_later(first, rng.uniform(0.0, 0.05 * len(words)))
        if kind == "kill_process"
        else None
    )
    try:
        text, error, seconds = await _collect(
            router, GenerationRequest(MODEL, prompt=prompt, max_tokens=64)
        )
    finally:
        await _close(router)
    if killer is not None:
        await killer
        await asyncio.to_thread(first.process.wait, 10)
    served = [
        body
        for node in nodes
        if node.process.poll() is None
        for body in node.requests()
    ]
    first_asked = first.process.poll() is not None or bool(first.requests())
    attempts = len(ledger.attempts(limit=1_000_000)) - before
    if kind == "kill_process":
        served_count = len(second.requests()) + 1
    else:
        served_count = len(served)
    if attempts != served_count:
        result.fail(
            n, f"{kind}: ledger has {attempts} attempts for {served_count} requests"
        )
    if seconds > DEADLINE_S + 1:
        result.fail(n, f"{kind}: took {seconds:.1f}s, over the {DEADLINE_S}s deadline")
    if error is not None:
        if kind != "both_die" or "no model could answer" not in error:
            result.fail(n, f"{kind}: unexpected error {error!r} (text so far {text!r})")
        return f"{kind} -> clear error"
    want = expected if (first_asked or restart) else "".join(words[cut:])
    if text != want:
        result.fail(
            n, f"{kind}: got {text!r}, expected {want!r} (cut {cut}, restart {restart})"
        )
    if kind == "die_after" and first_asked and second.requests():
        sent = second.requests()[0].get("prompt")
        if sent != prompt + "".join(words[:cut]):
            result.fail(
                n, f"{kind}: the retry's prompt was {sent!r}, not the continuation"
            )
    return f"{kind} -> complete"


async def run(trials: int, seed: int) -> CampaignResult:
    """Node-kill trials against two stub nodes, restarting the killed one when a process was stopped."""
    result = CampaignResult("node kills")
    rng = random.Random(seed)
    started = time.monotonic()
    tally: list[str] = []
    with scratch_home() as home:
        ledger = Ledger(Path(home) / "usage.sqlite3")
        nodes = [start_stub_node(), start_stub_node()]
        try:
            for n in range(trials):
                result.tried += 1
                try:
                    tally.append(await _trial(nodes, ledger, rng, n, result))
                except Exception as exc:  # noqa: BLE001 - a crashed trial is a failure, not the end
                    result.fail(n, f"{type(exc).__name__}: {exc}")
                if nodes[0].process.poll() is not None:
                    nodes[0].stop()
                    nodes[0] = start_stub_node()
        finally:
            for node in nodes:
                node.stop()
            ledger.close()
    result.notes = [f"{kind}: {tally.count(kind)}" for kind in sorted(set(tally))]
    result.seconds = time.monotonic() - started
    return result
