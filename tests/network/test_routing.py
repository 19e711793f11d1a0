"""Routing across hosts: failover before and during a stream, stalls, cooldown, scores, registry, mode."""

from __future__ import annotations

import asyncio
import datetime
import time
from pathlib import Path

import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest, Message
from freescode_lsp.routing.hosts import HostBook, order_near_best
from freescode_lsp.routing.repeats import RepeatFilter
from freescode_lsp.routing.router import AllCandidatesFailed, Router
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.stub_node import start_stub_node


def router_for(nodes: list[dict], **network: object) -> Router:
    raw = {"nodes": nodes, "network": {"mode": "remote-only", **network}}
    loaded = settings_from_dict(raw)
    assert loaded.problems == []
    return Router.from_settings(loaded.settings)


def node(url: str, price: float, models: tuple[str, ...] = ("code-llama-7b",)) -> dict:
    return {"url": url, "models": list(models), "price_per_1k": price}


async def text_of(router: Router, request: GenerationRequest) -> str:
    return "".join([chunk.text async for chunk in router.stream(request)])


async def test_a_dead_host_before_the_first_token_is_skipped(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["def f():", "\n    return 1\n"]}})
    dead = f"http://127.0.0.1:{free_port()}"
    router = router_for([node(dead, 0.001), node(stub_node.url, 0.01)])
    tried: list[str] = []
    router.on_fallback = lambda label, why: tried.append(label)
    text = await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=16))
    assert text == "def f():\n    return 1\n"
    assert tried == [f"code-llama-7b@node:{dead}"]
    assert len(stub_node.requests()) == 1


async def test_a_host_dying_mid_stream_is_cooled_and_the_next_continues() -> None:
    first = start_stub_node({"default": {"chunks": ["Hel", "lo ", "wor", "ld"], "die_after": 2}})
    second = start_stub_node({"default": {"chunks": ["world", "!"]}})
    try:
        router = router_for([node(first.url, 0.001), node(second.url, 0.01)])
        request = GenerationRequest("code-llama-7b", prompt="Say hello: ", max_tokens=16)
        assert await text_of(router, request) == "Hello world!"
        assert second.requests()[0]["prompt"] == "Say hello: Hello "
        assert second.requests()[0]["max_tokens"] == 16 - 2
        assert router.book.get(f"node:{first.url}").cooling()
        again = await text_of(router, GenerationRequest("code-llama-7b", prompt="Again: ", max_tokens=16))
        assert again == "world!" and len(first.requests()) == 1
    finally:
        first.stop()
        second.stop()


async def test_a_chat_retry_that_starts_over_is_not_repeated() -> None:
    first = start_stub_node({"default": {"chunks": ["Hello ", "there ", "friend"], "die_after": 1}})
    second = start_stub_node({"default": {"chunks": ["Hel", "lo there ", "friend"]}})
    try:
        router = router_for([node(first.url, 0.001), node(second.url, 0.01)])
        request = GenerationRequest("code-llama-7b", messages=[Message("user", "greet")], max_tokens=16)
        assert await text_of(router, request) == "Hello there friend"
        assert second.requests()[0]["messages"][-1] == {"role": "assistant", "content": "Hello "}
        assert second.requests()[0]["max_tokens"] == 16
    finally:
        first.stop()
        second.stop()


async def test_a_stalled_host_times_out_and_cools_down() -> None:
    slow = start_stub_node({"default": {"chunks": ["late"], "first_delay_s": 5}})
    fast = start_stub_node({"default": {"chunks": ["on time"]}})
    try:
        router = router_for([node(slow.url, 0.001), node(fast.url, 0.01)], first_token_timeout_s=0.5)
        assert await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8)) == "on time"
        assert router.book.get(f"node:{slow.url}").cooling()
    finally:
        slow.stop()
        fast.stop()


async def test_a_refused_connection_rests_the_host(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["ok"]}})
    dead = f"http://127.0.0.1:{free_port()}"
    router = router_for([node(dead, 0.001), node(stub_node.url, 0.01)])
    tried: list[str] = []
    router.on_fallback = lambda label, why: tried.append(label)
    assert await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=4)) == "ok"
    assert router.book.get(f"node:{dead}").cooling()
    assert await text_of(router, GenerationRequest("code-llama-7b", prompt="y", max_tokens=4)) == "ok"
    assert tried == [f"code-llama-7b@node:{dead}"]


async def test_a_busy_host_rests_for_its_retry_after() -> None:
    busy = start_stub_node({"default": {"status": 429, "retry_after": 42, "error_message": "slots full"}})
    idle = start_stub_node({"default": {"chunks": ["done"]}})
    try:
        router = router_for([node(busy.url, 0.001), node(idle.url, 0.01)])
        assert await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=4)) == "done"
        stats = router.book.get(f"node:{busy.url}")
        assert 40 < stats.cooldown_until - time.monotonic() <= 42
        assert "busy (429); it asks to wait 42 s: slots full" in stats.last_error
        assert len(busy.requests()) == 1
    finally:
        busy.stop()
        idle.stop()


async def test_resting_hosts_are_the_last_resort_not_a_dead_end(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["back"]}})
    router = router_for([node(stub_node.url, 0.0)])
    router.book.failed(f"node:{stub_node.url}", "it failed a moment ago", cool_down=True)
    assert router.candidates_for_model("code-llama-7b") == []
    assert await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=4)) == "back"


def test_retry_after_in_seconds_or_as_a_date() -> None:
    from email.utils import format_datetime

    from freescode_lsp.engines.remote import retry_after_seconds

    soon = format_datetime(datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("7") == 7.0
    assert 28 <= retry_after_seconds(soon) <= 30
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert [retry_after_seconds(v) for v in (None, "", "soon", "nan", "inf")] == [None] * 5


async def test_one_deadline_covers_every_attempt() -> None:
    stalls = [start_stub_node({"default": {"chunks": ["x"], "first_delay_s": 5}}) for _ in range(3)]
    try:
        router = router_for([node(s.url, 0.001 * (i + 1)) for i, s in enumerate(stalls)], total_timeout_s=1.0)
        started = asyncio.get_running_loop().time()
        with pytest.raises(AllCandidatesFailed) as failure:
            await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8))
        assert asyncio.get_running_loop().time() - started < 4.0
        assert "code-llama-7b@node:" in str(failure.value)
    finally:
        for stall in stalls:
            stall.stop()


async def test_price_cap_and_context_filter_hosts(stub_node) -> None:
    router = router_for([node(stub_node.url, 0.01)], max_price_per_1k=0.002)
    assert router.candidates_for_model("code-llama-7b") == []
    small = router_for([{**node(stub_node.url, 0.0), "context": 100}])
    assert small.candidates_for_model("code-llama-7b", prompt_tokens=80, max_tokens=40) == []
    assert len(small.candidates_for_model("code-llama-7b", prompt_tokens=20, max_tokens=40)) == 1


async def test_local_only_sends_nothing_out(stub_node, gemma_path: Path) -> None:
    raw = {
        "nodes": [node(stub_node.url, 0.0)],
        "network": {"mode": "local-only"},
        "local": {"threads": 2, "max_context": 512},
    }
    router = Router.from_settings(settings_from_dict(raw).settings)
    try:
        chunks = [c async for c in router.stream(GenerationRequest("code-llama-7b", prompt="x = ", max_tokens=4))]
        assert {c.model for c in chunks} == {"gemma-3-270m"} and {c.engine for c in chunks} == {"local"}
        assert stub_node.requests() == []
    finally:
        await router.local.aclose()


def test_faster_hosts_score_better_and_near_ties_are_shuffled() -> None:
    book = HostBook()
    for _ in range(5):
        book.observe("fast", 0.1, 1.0, 20)
        book.observe("slow", 1.0, 6.0, 20)
    assert book.score("fast", 0.0, 64) < book.score("slow", 0.0, 64)
    book.started("fast")
    book.started("fast")
    busy = book.score("fast", 0.0, 64)
    assert busy == pytest.approx(3 * book.score("fast", 0.0, 64) / 3)
    orders = {tuple(order_near_best(["a", "b", "c"], [1.0, 1.1, 9.0])) for _ in range(200)}
    assert orders == {("a", "b", "c"), ("b", "a", "c")}


def test_repeat_filter() -> None:
    restarted = RepeatFilter("Hello ")
    assert [restarted.feed(p) for p in ["Hel", "lo th", "ere"]] == ["", "th", "ere"]
    continued = RepeatFilter("Hello ")
    assert [continued.feed(p) for p in ["there", " friend"]] == ["there", " friend"]
    shorter = RepeatFilter("Hello there")
    assert [shorter.feed("Hello", final=True)] == [""]


async def test_hosts_from_the_registry(stub_node, tmp_path: Path) -> None:
    from freescode_lsp.testing.registry_process import start_registry
    from freescode_lsp.wire.registry_client import RegistryClient

    stub_node.set_script({"models": ["code-llama-7b"], "operator_token": "secret", "default": {"chunks": ["from ", "the mesh"]}})
    registry = start_registry(tmp_path / "registry.db", tokens={"op": "secret"}, probe_interval_s=0.5)
    try:
        async with RegistryClient(registry.url, token="secret") as client:
            await client.register(stub_node.url, ["code-llama-7b"], 0.001, 4096)
            for _ in range(100):
                if await client.hosts_for("code-llama-7b"):
                    break
                await asyncio.sleep(0.1)
        router = Router.from_settings(settings_from_dict({"network": {"mode": "remote-only", "registry": registry.url}}).settings)
        text = await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8))
        assert text == "from the mesh"
        assert stub_node.requests()[-1]["model"] == "code-llama-7b"
    finally:
        registry.stop()


async def test_every_attempt_is_metered_partial_ones_too() -> None:
    first = start_stub_node({"default": {"chunks": ["Hel", "lo ", "wor"], "die_after": 2}})
    second = start_stub_node({"default": {"chunks": ["world"], "usage": {"prompt_tokens": 10, "completion_tokens": 1}}})
    try:
        router = router_for([node(first.url, 0.001), node(second.url, 0.01)])
        await text_of(router, GenerationRequest("code-llama-7b", prompt="Say hello: ", max_tokens=16))
        rows = sorted(router.ledger.attempts(), key=lambda a: a.time)
        assert [(a.host, a.outcome) for a in rows] == [(f"node:{first.url}", "partial"), (f"node:{second.url}", "ok")]
        assert rows[0].completion_tokens == 2
        assert rows[1].prompt_tokens == 10 and rows[1].cost_usd == pytest.approx(11 / 1000 * 0.01)
    finally:
        first.stop()
        second.stop()


async def test_a_spent_budget_stops_paid_hosts_only(stub_node) -> None:
    from freescode_lsp.routing.metering import Attempt

    free = start_stub_node({"default": {"chunks": ["free"]}})
    try:
        router = router_for([node(stub_node.url, 0.01)], budget_usd=0.05)
        router.ledger.record(Attempt(model="code-llama-7b", host="node:x", prompt_tokens=6000, price_per_1k=0.01))
        with pytest.raises(AllCandidatesFailed) as failure:
            await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8))
        assert "budget" in str(failure.value) and stub_node.requests() == []
        with_free = router_for([node(stub_node.url, 0.01), node(free.url, 0.0)], budget_usd=0.05)
        assert await text_of(with_free, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8)) == "free"
    finally:
        free.stop()


def test_models_command_shows_the_nodes_serving_each_model(
    stub_node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from freescode_lsp.cli import main

    config = tmp_path / "freescode.toml"
    config.write_text(f'[[nodes]]\nurl = "{stub_node.url}/v1"\nmodels = ["code-llama-7b"]\n')
    monkeypatch.setenv("FREESCODE_CONFIG", str(config))
    assert main(["models", "--json"]) == 0
    records = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert stub_node.url in records["code-llama-7b"]["sources"]
    assert stub_node.url not in records["mistral-7b"]["sources"]
    assert main(["models"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("code-llama-7b"))
    assert row.rstrip().endswith(stub_node.url)


async def test_an_answer_cut_short_behind_a_gateway_continues_on_the_next_host(tmp_path: Path) -> None:
    from freescode_lsp.testing.node_process import start_gateway

    lines = ["def f(x):\n", "    y = x + 1\n", "    z = y * 2\n", "    w = z - 3\n", "    return w\n"]
    engine = start_stub_node({"default": {"chunks": lines, "end_after": 2}})
    healthy = start_stub_node({"default": {"chunks": lines}})
    gateway = start_gateway(tmp_path, "--model", "code-llama-7b", "--engine-url", engine.url)
    try:
        router = router_for([node(gateway.url, 0.001), node(healthy.url, 0.01)])
        for n in range(2):
            text = await text_of(router, GenerationRequest("code-llama-7b", prompt=f"# {n}\n", max_tokens=64))
            assert text == "".join(lines), f"request {n} came back cut short: {text!r}"
        assert len(engine.records()) == 1 and router.book.get(f"node:{gateway.url}").cooling()
        assert healthy.requests()[0]["prompt"] == "# 0\n" + "".join(lines[:2])
        rows = sorted(router.ledger.attempts(), key=lambda a: a.time)
        assert [(a.host, a.outcome) for a in rows] == [
            (f"node:{gateway.url}", "partial"),
            (f"node:{healthy.url}", "ok"),
            (f"node:{healthy.url}", "ok"),
        ]
    finally:
        gateway.stop()
        engine.stop()
        healthy.stop()


async def test_the_status_shows_what_the_ledger_charged_for_a_registry_host(stub_node, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from freescode_lsp.lsp.features.status import status_payload
    from freescode_lsp.tasks.prompts import TaskInput
    from freescode_lsp.tasks.runner import run_text
    from freescode_lsp.testing.registry_process import start_registry
    from freescode_lsp.wire.registry_client import RegistryClient

    usage = {"prompt_tokens": 40, "completion_tokens": 2}
    stub_node.set_script(
        {"models": ["deepseek-coder-6.7b"], "operator_token": "secret", "default": {"chunks": ["It ", "adds."], "usage": usage}}
    )
    registry = start_registry(tmp_path / "registry.db", tokens={"op": "secret"}, probe_interval_s=0.5)
    try:
        async with RegistryClient(registry.url, token="secret") as client:
            await client.register(stub_node.url, ["deepseek-coder-6.7b"], 0.5, 4096)
            for _ in range(100):
                if await client.hosts_for("deepseek-coder-6.7b"):
                    break
                await asyncio.sleep(0.1)
        router = Router.from_settings(settings_from_dict({"network": {"mode": "remote-only", "registry": registry.url}}).settings)
        item = TaskInput("analyze", "def add(a, b):\n    return a + b\n", "python")
        outcome = await run_text(router, item, "deepseek-coder-6.7b")
        assert outcome.text == "It adds." and outcome.engine == f"node:{stub_node.url}"
        charged = router.ledger.spent_usd()
        assert charged == pytest.approx(42 / 1000 * 0.5)
        payload = status_payload(SimpleNamespace(router=router), outcome, "done")
        assert payload["costUsd"] == pytest.approx(charged)
    finally:
        registry.stop()


async def test_a_nodes_usage_claim_cannot_spend_the_budget(stub_node) -> None:
    claim = {"prompt_tokens": 10**9, "completion_tokens": 10**9}
    stub_node.set_script({"default": {"chunks": ["def f():", "\n    return 1\n"], "usage": claim}})
    router = router_for([node(stub_node.url, 1.0)], budget_usd=5.0)
    assert await text_of(router, GenerationRequest("code-llama-7b", prompt="fix f", max_tokens=16)) == (
        "def f():\n    return 1\n"
    )
    spent = router.ledger.spent_usd()
    assert spent < 0.5, f"a node's word cost ${spent:,.2f}"
    assert router.budget_reason() is None
    (attempt,) = router.ledger.attempts()
    assert attempt.outcome == "ok"
    assert "claimed 1000000000 prompt + 1000000000 completion tokens" in (attempt.error or "")
    assert f"{attempt.prompt_tokens} + {attempt.completion_tokens}" in (attempt.error or "")


class AnsweringRegistry:
    """A registry client whose answer about every model is the given hosts."""

    def __init__(self, hosts: list) -> None:
        self.hosts = hosts

    async def hosts_for(self, model_id: str) -> list:
        return self.hosts


async def test_bad_hosts_in_a_registry_answer_are_skipped(stub_node, caplog: pytest.LogCaptureFixture) -> None:
    stub_node.set_script({"default": {"chunks": ["from ", "the good host"]}})
    router = router_for([])
    router.registry = AnsweringRegistry(
        [
            {"url": "http://127.0.0.1:99999", "price_per_1k": 0.0},
            {"url": "http://127.0.0.1\t:1"},
            {"url": "http://[::1"},
            {"url": stub_node.url, "price_per_1k": "abc"},
            {"url": stub_node.url, "context": "big"},
            {"url": stub_node.url, "price_per_1k": float("inf")},
            "http://127.0.0.1:1",
            None,
            {"url": stub_node.url, "price_per_1k": 0.001, "context": 4096, "load": 1},
        ]
    )
    text = await text_of(router, GenerationRequest("code-llama-7b", prompt="x", max_tokens=8))
    assert text == "from the good host"
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 8, skipped
    assert any("price_per_1k: expected a number from 0 to 1,000,000, got 'abc'" in line for line in skipped)
    assert any("a host must be an object" in line for line in skipped)
    [engine] = router.remote_engines("code-llama-7b")
    assert (engine.price_per_1k, engine.context) == (0.001, 4096)
