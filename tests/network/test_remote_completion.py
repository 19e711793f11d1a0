"""Completions on remote nodes: the /v1/completions body with each model family's FIM prompt, through the
router's failover and metering."""

from __future__ import annotations

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest, Infill
from freescode_lsp.engines.remote import RemoteEngine
from freescode_lsp.routing.router import Router
from freescode_lsp.testing.stub_node import start_stub_node

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


def completion(model: str, stop: list[str] | None = None) -> GenerationRequest:
    return GenerationRequest(model, prompt=PREFIX, max_tokens=16, stop=stop or [], temperature=0, infill=Infill(PREFIX, SUFFIX))


async def test_a_fim_model_gets_its_familys_prompt_on_v1_completions(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["a + b"]}})
    engine = RemoteEngine(stub_node.url, models=["deepseek-coder-1.3b"])
    try:
        chunks = [chunk async for chunk in engine.stream(completion("deepseek-coder-1.3b", ["\n"]))]
    finally:
        await engine.aclose()
    assert "".join(chunk.text for chunk in chunks) == "a + b"
    [record] = stub_node.records()
    assert record["path"] == "/v1/completions"
    body = record["body"]
    assert body["prompt"] == f"<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>"
    assert body["model"] == "deepseek-coder-1.3b" and body["max_tokens"] == 16 and body["stream"] is True
    assert body["stop"][0] == "\n" and len(body["stop"]) <= 4
    assert "messages" not in body and "suffix" not in body


async def test_a_model_without_fim_gets_the_prefix_and_a_small_node_a_shorter_window(stub_node) -> None:
    engine = RemoteEngine(stub_node.url, models=["gemma-3-270m", "starcoder2-3b"], context=40)
    long_prefix = "".join(f"value_{n} = {n}\n" for n in range(100)) + PREFIX
    try:
        [chunk async for chunk in engine.stream(completion("gemma-3-270m"))]
        request = GenerationRequest("starcoder2-3b", prompt=long_prefix, max_tokens=16, infill=Infill(long_prefix, SUFFIX))
        [chunk async for chunk in engine.stream(request)]
    finally:
        await engine.aclose()
    plain, fim = stub_node.requests()
    assert plain["prompt"] == PREFIX and "stop" not in plain
    assert fim["prompt"].startswith("<fim_prefix>value_") and fim["prompt"].endswith("<fim_middle>")
    assert f"value_99 = 99\n{PREFIX}<fim_suffix>\n" in fim["prompt"]
    assert len(fim["prompt"]) <= (40 - 16) * 4


async def test_failover_builds_the_prompt_for_each_nodes_model_and_meters_the_task() -> None:
    broken = start_stub_node({"default": {"status": 500}})
    working = start_stub_node({"default": {"chunks": ["a + b"]}})
    try:
        raw = {
            "nodes": [
                {"url": broken.url, "models": ["deepseek-coder-1.3b"]},
                {"url": working.url, "models": ["qwen2.5-coder-1.5b"]},
            ],
            "network": {"mode": "remote-only"},
        }
        router = Router.from_settings(settings_from_dict(raw).settings)
        text = "".join([chunk.text async for chunk in router.stream(completion("deepseek-coder-1.3b"), "complete")])
        assert text == "a + b"
        assert broken.requests()[0]["prompt"].startswith("<｜fim▁begin｜>")
        assert working.requests()[0]["prompt"] == f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
        assert router.ledger is not None
        metered = [(a.task, a.model, a.outcome) for a in router.ledger.attempts()]
        assert ("complete", "qwen2.5-coder-1.5b", "ok") in metered and ("complete", "deepseek-coder-1.3b", "failed") in metered
    finally:
        broken.stop()
        working.stop()
