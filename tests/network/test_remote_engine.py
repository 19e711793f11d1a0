"""RemoteEngine against a real stub node process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import (
    CONTEXT_PLACEHOLDER,
    Chunk,
    EngineError,
    GenerationRequest,
    GenerationTimeout,
    Message,
    SurroundingCode,
    Usage,
)
from freescode_lsp.engines.remote import (
    CappedUsage,
    EstimatedUsage,
    NodeDeadline,
    NodeError,
    NodeTimeout,
    NodeUnreachable,
    RemoteEngine,
)
from freescode_lsp.testing.answers import collect
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.testing.waiting import until
from freescode_lsp.wire import normalize_base_url

MakeEngine = Callable[..., RemoteEngine]


@pytest.fixture(scope="module")
def node() -> Iterator[StubNode]:
    """One stub process for the module, reset before every test."""
    stub = start_stub_node()
    yield stub
    stub.stop()


@pytest.fixture
def stub(node: StubNode) -> StubNode:
    """The module's stub node with an empty script and no recorded requests."""
    node.reset()
    return node


@pytest.fixture
async def make_engine(stub: StubNode) -> AsyncIterator[MakeEngine]:
    """Build engines on the stub with short timeouts; close them afterwards."""
    engines: list[RemoteEngine] = []

    def make(url: str | None = None, **options: Any) -> RemoteEngine:
        limits = {"connect_timeout_s": 2.0, "first_token_timeout_s": 5.0, "chunk_gap_timeout_s": 5.0}
        engine = RemoteEngine(url or stub.url, **{**limits, **options})
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.aclose()


def chat(text: str = "fix this", **options: Any) -> GenerationRequest:
    """A chat request for the stub model."""
    return GenerationRequest(model="stub-model", messages=[Message("user", text)], **options)


def texts(chunks: list[Chunk]) -> list[str]:
    """The non-empty texts of a stream."""
    return [chunk.text for chunk in chunks if chunk.text]


async def wait_for_outcome(stub: StubNode, index: int, outcome: str) -> None:
    """Until request `index` to the stub has the outcome."""

    def reached() -> bool:
        records = stub.records()
        return len(records) > index and records[index]["outcome"] == outcome

    await until(reached, f"request {index} to end {outcome!r}")


def test_normalize_base_url() -> None:
    assert normalize_base_url("http://127.0.0.1:9001") == "http://127.0.0.1:9001/v1"
    assert normalize_base_url("http://127.0.0.1:9001/") == "http://127.0.0.1:9001/v1"
    assert normalize_base_url("http://127.0.0.1:9001/v1") == "http://127.0.0.1:9001/v1"
    assert normalize_base_url(" http://127.0.0.1:9001/v1/ ") == "http://127.0.0.1:9001/v1"
    assert normalize_base_url("http://localhost/proxy/") == "http://localhost/proxy/v1"


async def test_chat_streams_pieces_then_usage(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script(
        {
            "default": {
                "chunks": ["def ", "f():", "\n    pass"],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3},
            }
        }
    )
    engine = make_engine()
    chunks = await collect(engine.stream(chat()))
    assert texts(chunks) == ["def ", "f():", "\n    pass"]
    assert len(chunks) == 4
    assert all(chunk.usage is None and chunk.finish_reason is None for chunk in chunks[:-1])
    assert chunks[-1].text == ""
    assert chunks[-1].usage == Usage(prompt_tokens=11, completion_tokens=3)
    assert type(chunks[-1].usage) is Usage
    assert chunks[-1].finish_reason == "stop"
    assert {chunk.model for chunk in chunks} == {"stub-model"}
    assert {chunk.engine for chunk in chunks} == {f"node:{stub.url}"}
    assert engine.name == f"node:{stub.url}"


async def test_chat_request_body(stub: StubNode, make_engine: MakeEngine) -> None:
    request = GenerationRequest(
        model="stub-model",
        messages=[Message("system", "be brief"), Message("user", "hi")],
        max_tokens=64,
        temperature=0.5,
        stop=["\n\n"],
    )
    await collect(make_engine().stream(request))
    [record] = stub.records()
    assert record["path"] == "/v1/chat/completions"
    assert record["body"] == {
        "model": "stub-model",
        "max_tokens": 64,
        "temperature": 0.5,
        "stream": True,
        "stop": ["\n\n"],
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "stream_options": {"include_usage": True},
    }


async def test_prompt_goes_to_completions(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["x = ", "1"]}})
    chunks = await collect(make_engine().stream(GenerationRequest(model="stub-model", prompt="one two three")))
    assert texts(chunks) == ["x = ", "1"]
    assert chunks[-1].usage == Usage(prompt_tokens=3, completion_tokens=2)
    [record] = stub.records()
    assert record["path"] == "/v1/completions"
    assert record["body"]["prompt"] == "one two three"
    assert "messages" not in record["body"]
    assert "stop" not in record["body"]


async def test_usage_counted_when_node_reports_none(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c"], "format": "llama-cpp-python"}})
    chunks = await collect(make_engine().stream(chat("x" * 9)))
    assert texts(chunks) == ["a", "b", "c"]
    assert chunks[-1].usage == EstimatedUsage(prompt_tokens=3, completion_tokens=3)
    assert isinstance(chunks[-1].usage, EstimatedUsage)


async def test_usage_on_the_finish_chunk_of_llama_server(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script(
        {
            "default": {
                "chunks": ["ok"],
                "format": "llama-server",
                "usage": {"prompt_tokens": 5, "completion_tokens": 1},
            }
        }
    )
    chunks = await collect(make_engine().stream(chat()))
    assert texts(chunks) == ["ok"]
    assert chunks[-1].usage == Usage(prompt_tokens=5, completion_tokens=1)
    assert type(chunks[-1].usage) is Usage


async def test_ollama_dialect(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script(
        {
            "default": {
                "chunks": ["a", "b"],
                "format": "ollama",
                "usage": {"prompt_tokens": 2, "completion_tokens": 2},
            }
        }
    )
    chunks = await collect(make_engine().stream(chat()))
    assert texts(chunks) == ["a", "b"]
    assert chunks[-1].usage == Usage(prompt_tokens=2, completion_tokens=2)


async def test_length_finish_reason_passed_on(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c", "d"]}})
    chunks = await collect(make_engine().stream(chat(max_tokens=2)))
    assert texts(chunks) == ["a", "b"]
    assert chunks[-1].finish_reason == "length"


async def test_retry_without_stream_options_and_remember(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "reject_stream_options": True, "format": "llama-server"}})
    engine = make_engine()
    assert texts(await collect(engine.stream(chat()))) == ["a", "b"]
    assert texts(await collect(engine.stream(chat()))) == ["a", "b"]
    bodies = stub.requests()
    assert len(bodies) == 3
    assert "stream_options" in bodies[0]
    assert "stream_options" not in bodies[1]
    assert "stream_options" not in bodies[2]
    assert engine.sends_stream_options is False


async def test_other_client_error_is_not_retried(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"status": 404, "error_message": "model 'stub-model' not found"}})
    with pytest.raises(NodeError) as caught:
        await collect(make_engine().stream(chat()))
    assert "model 'stub-model' not found" in str(caught.value)
    assert caught.value.status == 404
    assert len(stub.requests()) == 2
    stub.set_script({"default": {"status": 422, "error_message": "bad max_tokens"}})
    engine = make_engine()
    with pytest.raises(NodeError):
        await collect(engine.stream(chat()))
    assert engine.sends_stream_options is True


async def test_pings_are_ignored(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c"], "pings": True, "delay_s": 0.02}})
    chunks = await collect(make_engine().stream(chat()))
    assert texts(chunks) == ["a", "b", "c"]


async def test_missing_done_is_fine(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "no_done": True, "format": "vllm"}})
    chunks = await collect(make_engine().stream(chat()))
    assert texts(chunks) == ["a", "b"]
    assert chunks[-1].finish_reason == "stop"


async def test_empty_stream_is_an_error(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"raw": [": hello\n\n"]}})
    with pytest.raises(NodeError) as caught:
        await collect(make_engine().stream(chat()))
    assert "without an answer" in str(caught.value)
    assert caught.value.after_first_token is False


@pytest.mark.parametrize("style", ["data", "event"])
async def test_in_band_error(stub: StubNode, make_engine: MakeEngine, style: str) -> None:
    stub.set_script(
        {
            "default": {
                "chunks": ["a", "b", "c"],
                "error_after": 2,
                "error_style": style,
                "error_message": "context size exceeded",
            }
        }
    )
    received: list[str] = []
    with pytest.raises(NodeError) as caught:
        async for chunk in make_engine().stream(chat()):
            received.append(chunk.text)
    assert received == ["a", "b"]
    assert "context size exceeded" in str(caught.value)
    assert caught.value.after_first_token is True


async def test_in_band_error_before_text(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"], "error_after": 0, "error_message": "out of memory"}})
    with pytest.raises(EngineError) as caught:
        await collect(make_engine().stream(chat()))
    assert isinstance(caught.value, NodeError)
    assert "out of memory" in str(caught.value)
    assert caught.value.after_first_token is False


async def test_bad_json_event(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"raw": ["data: {not json\n\n"]}})
    with pytest.raises(NodeError) as caught:
        await collect(make_engine().stream(chat()))
    assert "not JSON" in str(caught.value)


async def test_wrong_key_is_refused(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"api_key": "right"})
    with pytest.raises(NodeError) as caught:
        await collect(make_engine(api_key="wrong").stream(chat()))
    assert "refused the API key" in str(caught.value)
    assert caught.value.status == 401
    assert len(stub.requests()) == 1
    with pytest.raises(NodeError) as missing:
        await collect(make_engine().stream(chat()))
    assert "needs an API key" in str(missing.value)


async def test_bearer_key_is_sent(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"api_key": "s3cret", "default": {"chunks": ["ok"]}})
    chunks = await collect(make_engine(api_key="s3cret").stream(chat()))
    assert texts(chunks) == ["ok"]
    assert stub.records()[0]["headers"]["authorization"] == "Bearer s3cret"


async def test_connection_refused(make_engine: MakeEngine) -> None:
    engine = make_engine(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NodeUnreachable) as caught:
        await collect(engine.stream(chat()))
    assert caught.value.after_first_token is False
    assert await engine.health() is False


async def test_server_error_before_text(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"status": 503, "error_message": "loading model"}})
    with pytest.raises(NodeUnreachable) as caught:
        await collect(make_engine().stream(chat()))
    assert "loading model" in str(caught.value)
    assert caught.value.status == 503
    assert caught.value.after_first_token is False
    assert len(stub.requests()) == 1


async def test_first_token_timeout(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["late"], "first_delay_s": 30}})
    started = time.monotonic()
    with pytest.raises(NodeTimeout) as caught:
        await collect(make_engine(first_token_timeout_s=0.5).stream(chat()))
    assert time.monotonic() - started < 10
    assert caught.value.phase == "first_token"
    assert caught.value.after_first_token is False


async def test_first_token_timeout_covers_late_headers(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["late"], "first_delay_s": 30, "delay_headers": True}})
    started = time.monotonic()
    with pytest.raises(NodeTimeout) as caught:
        await collect(make_engine(first_token_timeout_s=0.5).stream(chat()))
    assert time.monotonic() - started < 10
    assert caught.value.phase == "first_token"


async def test_gap_timeout(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "delay_s": 30}})
    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(NodeTimeout) as caught:
        async for chunk in make_engine(chunk_gap_timeout_s=0.5).stream(chat()):
            received.append(chunk.text)
    assert time.monotonic() - started < 10
    assert received == ["a"]
    assert caught.value.phase == "gap"
    assert caught.value.after_first_token is True


async def test_total_timeout(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"] * 40, "delay_s": 0.1}})
    with pytest.raises(NodeTimeout) as caught:
        await collect(make_engine(total_timeout_s=0.6).stream(chat()))
    assert caught.value.phase == "total"
    assert caught.value.after_first_token is True


async def test_request_deadline(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["late"], "first_delay_s": 30}})
    started = time.monotonic()
    with pytest.raises(GenerationTimeout) as caught:
        await collect(make_engine().stream(chat(deadline=time.monotonic() + 0.5)))
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, NodeDeadline)
    assert caught.value.after_first_token is False


async def test_node_dies_mid_stream(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b", "c", "d"], "die_after": 2}})
    received: list[str] = []
    with pytest.raises(NodeUnreachable) as caught:
        async for chunk in make_engine().stream(chat()):
            received.append(chunk.text)
    assert received == ["a", "b"]
    assert caught.value.after_first_token is True


async def test_node_dies_before_text(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"], "die_after": 0}})
    with pytest.raises(NodeUnreachable) as caught:
        await collect(make_engine().stream(chat()))
    assert caught.value.after_first_token is False


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
async def test_url_with_or_without_v1(stub: StubNode, make_engine: MakeEngine, suffix: str) -> None:
    stub.set_script({"default": {"chunks": ["ok"]}})
    engine = make_engine(stub.url + suffix)
    assert engine.name == f"node:{stub.url}"
    assert texts(await collect(engine.stream(chat()))) == ["ok"]
    assert stub.records()[0]["path"] == "/v1/chat/completions"


async def test_json_schema_for_chat(stub: StubNode, make_engine: MakeEngine) -> None:
    schema = {"type": "object", "properties": {"bugs": {"type": "array"}}, "required": ["bugs"]}
    await collect(make_engine().stream(chat(json_schema=schema)))
    body = stub.requests()[0]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert "json_schema" not in body


async def test_json_schema_for_completions(stub: StubNode, make_engine: MakeEngine) -> None:
    schema = {"type": "object"}
    await collect(make_engine().stream(GenerationRequest(model="stub-model", prompt="p", json_schema=schema)))
    body = stub.requests()[0]
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["json_schema"] == schema


async def test_json_object_fallback_for_llama_cpp_python(stub: StubNode, make_engine: MakeEngine) -> None:
    schema = {"type": "object", "required": ["ok"]}
    stub.set_script({"default": {"chunks": ['{"ok": true}'], "reject_json_schema": True}})
    engine = make_engine()
    assert texts(await collect(engine.stream(chat(json_schema=schema)))) == ['{"ok": true}']
    assert texts(await collect(engine.stream(chat(json_schema=schema)))) == ['{"ok": true}']
    formats = [body["response_format"] for body in stub.requests()]
    assert [f["type"] for f in formats] == ["json_schema", "json_object", "json_object"]
    assert formats[1] == {"type": "json_object", "schema": schema}
    assert all("stream_options" in body for body in stub.requests())
    assert (engine.schema_style, engine.sends_stream_options) == ("json_object", True)


async def test_both_fallbacks(stub: StubNode, make_engine: MakeEngine) -> None:
    schema = {"type": "object"}
    answer = {"chunks": ["{}"], "reject_json_schema": True, "reject_stream_options": True}
    stub.set_script({"default": answer})
    engine = make_engine()
    assert texts(await collect(engine.stream(chat(json_schema=schema)))) == ["{}"]
    assert [("stream_options" in b, b["response_format"]["type"]) for b in stub.requests()] == [
        (True, "json_schema"),
        (False, "json_schema"),
        (False, "json_object"),
    ]
    assert (engine.schema_style, engine.sends_stream_options) == ("json_object", False)


async def test_plain_server_error_is_not_a_schema_problem(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"status": 500, "error_message": "out of memory"}})
    engine = make_engine()
    with pytest.raises(NodeUnreachable):
        await collect(engine.stream(chat(json_schema={"type": "object"})))
    assert len(stub.requests()) == 1
    assert engine.schema_style == "json_schema"


async def test_surrounding_code_fills_placeholder(stub: StubNode, make_engine: MakeEngine) -> None:
    code = SurroundingCode(lines=("import os", "def f():", "    pass", "print(1)"), target_start=1, target_end=3, marker="# HERE")
    request = chat(f"Context:\n{CONTEXT_PLACEHOLDER}\nFix it.", surrounding=code)
    await collect(make_engine().stream(request))
    content = stub.requests()[0]["messages"][0]["content"]
    assert content == "Context:\nimport os\n# HERE\nprint(1)\nFix it."


async def test_closing_the_stream_early_disconnects(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"] * 100, "delay_s": 0.2}})
    started = time.monotonic()
    async with contextlib.aclosing(make_engine().stream(chat())) as stream:
        async for chunk in stream:
            assert chunk.text == "a"
            break
    assert time.monotonic() - started < 5
    await wait_for_outcome(stub, 0, "disconnected")


async def test_breaking_out_does_not_hang(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"] * 100, "delay_s": 0.2}})
    started = time.monotonic()
    received = 0
    async for _chunk in make_engine().stream(chat()):
        received += 1
        if received == 2:
            break
    assert received == 2
    assert time.monotonic() - started < 5
    await wait_for_outcome(stub, 0, "disconnected")


async def test_cancelling_the_consumer_disconnects(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a"] * 100, "delay_s": 0.2}})
    first = asyncio.Event()

    async def consume() -> None:
        async for _chunk in make_engine().stream(chat()):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for_outcome(stub, 0, "disconnected")


async def test_list_models_and_health(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"models": ["starcoder2-15b", "mistral-7b"]})
    engine = make_engine(stub.url + "/v1")
    assert await engine.list_models() == ["starcoder2-15b", "mistral-7b"]
    assert await engine.health() is True
    stub.set_script({"health_status": 503})
    assert await engine.health() is False


async def test_list_models_needs_the_key(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"api_key": "k", "models": ["m"]})
    with pytest.raises(NodeError):
        await make_engine().list_models()
    assert await make_engine(api_key="k").list_models() == ["m"]


async def test_shared_client_is_used_and_left_open(stub: StubNode) -> None:
    async with httpx.AsyncClient() as client:
        engine = RemoteEngine(stub.url, client=client)
        assert texts(await collect(engine.stream(chat()))) == ["Hello", " world"]
        await engine.aclose()
        assert not client.is_closed


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUB_NODE_KEY", "from-env")
    loaded = settings_from_dict(
        {
            "nodes": [
                {
                    "url": "http://127.0.0.1:9001/v1/",
                    "api_key_env": "STUB_NODE_KEY",
                    "price_per_1k": 0.002,
                    "context": 4096,
                    "models": ["m"],
                },
                {"url": "http://127.0.0.1:9002", "api_key": "inline", "api_key_env": "STUB_NODE_KEY"},
            ],
            "network": {
                "connect_timeout_s": 1.5,
                "first_token_timeout_s": 7.0,
                "chunk_gap_timeout_s": 3.0,
                "total_timeout_s": 90.0,
            },
        }
    )
    assert loaded.problems == []
    settings = loaded.settings
    engine = RemoteEngine.from_settings(settings.nodes[0], settings.network)
    assert engine.name == "node:http://127.0.0.1:9001"
    assert engine.base_url == "http://127.0.0.1:9001/v1"
    assert engine.api_key == "from-env"
    assert engine.price_per_1k == 0.002
    assert engine.context == 4096
    assert engine.models == ["m"]
    timeouts = (
        engine.connect_timeout_s,
        engine.first_token_timeout_s,
        engine.chunk_gap_timeout_s,
        engine.total_timeout_s,
    )
    assert timeouts == (1.5, 7.0, 3.0, 90.0)
    assert RemoteEngine.from_settings(settings.nodes[1], settings.network).api_key == "inline"
    monkeypatch.delenv("STUB_NODE_KEY")
    assert RemoteEngine.from_settings(settings.nodes[0], settings.network).api_key is None


def test_stub_answers_without_streaming(stub: StubNode) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "usage": {"prompt_tokens": 4, "completion_tokens": 2}}})
    answer = httpx.post(
        f"{stub.base_url}/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
    ).json()
    assert answer["choices"][0]["message"]["content"] == "ab"
    assert answer["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


def test_stub_queue_then_by_model_then_default(stub: StubNode) -> None:
    stub.set_script({"queue": [{"chunks": ["q"]}], "by_model": {"m2": {"chunks": ["m2"]}}, "default": {"chunks": ["d"]}})
    url = f"{stub.base_url}/completions"
    said = [httpx.post(url, json={"model": model, "prompt": "x"}).json()["choices"][0]["text"] for model in ("m2", "m2", "m1")]
    assert said == ["q", "m2", "d"]


async def test_conftest_fixture_starts_a_fresh_node(stub_node: StubNode) -> None:
    async with RemoteEngine(stub_node.url) as engine:
        assert await engine.list_models() == ["stub-model"]
        assert texts(await collect(engine.stream(chat()))) == ["Hello", " world"]
    assert stub_node.requests()[0]["messages"] == [{"role": "user", "content": "fix this"}]


async def test_an_answer_longer_than_max_tokens_is_cut_off(stub_node) -> None:
    event = 'data: {"choices": [{"index": 0, "text": "abcd", "finish_reason": null}]}\n\n'
    stub_node.set_script({"default": {"raw": [event] * 50 + ["data: [DONE]\n\n"]}})
    engine = RemoteEngine(stub_node.url)
    try:
        chunks = [c async for c in engine.stream(GenerationRequest("m", prompt="x", max_tokens=10))]
    finally:
        await engine.aclose()
    assert "".join(c.text for c in chunks) == "abcd" * 11
    assert chunks[-1].finish_reason == "length"


@pytest.mark.parametrize("fmt", ["openai", "vllm", "llama-server", "llama-cpp-python", "ollama"])
async def test_a_stream_that_ends_before_its_end_marker_is_broken(stub: StubNode, make_engine: MakeEngine, fmt: str) -> None:
    lines = ["line 1\n", "line 2\n", "line 3\n", "line 4\n"]
    stub.set_script({"default": {"chunks": lines, "end_after": 2, "format": fmt}})
    received: list[str] = []
    with pytest.raises(NodeUnreachable) as caught:
        async for chunk in make_engine().stream(chat()):
            received.append(chunk.text)
    assert received == ["line 1\n", "line 2\n"]
    assert caught.value.after_first_token is True
    assert "cut off" in str(caught.value)


async def test_one_huge_line_is_refused_without_holding_it(stub: StubNode, make_engine: MakeEngine) -> None:
    import tracemalloc

    stub.set_script({"default": {"chunks": ["ok"], "huge_line_bytes": 24 * 1024 * 1024}})
    engine = make_engine()
    tracemalloc.start()
    try:
        with pytest.raises(NodeError) as caught:
            await collect(engine.stream(chat()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 1024 * 1024, f"the client held {peak / 2**20:.1f} MiB of one line"
    assert "a line longer than" in str(caught.value)


async def test_the_answer_on_the_wire_is_bounded(stub: StubNode, make_engine: MakeEngine) -> None:
    filler = ": " + "p" * 65_000 + "\n\n"
    answer = 'data: {"choices": [{"index": 0, "text": "ok", "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    stub.set_script({"default": {"raw": [filler] * 40 + [answer]}})
    with pytest.raises(NodeError) as caught:
        await collect(make_engine().stream(GenerationRequest("m", prompt="x", max_tokens=16)))
    assert "more than" in str(caught.value) and "bytes" in str(caught.value)


async def test_a_usage_claim_beyond_what_was_sent_and_received_is_cut(stub: StubNode, make_engine: MakeEngine) -> None:
    stub.set_script({"default": {"chunks": ["a", "b"], "usage": {"prompt_tokens": 10**9, "completion_tokens": 10**9}}})
    usage = (await collect(make_engine().stream(chat("fix this"))))[-1].usage
    assert isinstance(usage, CappedUsage)
    assert usage.prompt_tokens <= len("fix this") + 256 + 16 and usage.completion_tokens <= 2 + 16
    assert (usage.claimed_prompt_tokens, usage.claimed_completion_tokens) == (10**9, 10**9)
    assert "claimed 1000000000 prompt + 1000000000 completion" in usage.note()
    stub.set_script({"default": {"chunks": ["a", "b"], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}})
    honest = (await collect(make_engine().stream(chat("fix this"))))[-1].usage
    assert honest == Usage(prompt_tokens=7, completion_tokens=2) and not isinstance(honest, CappedUsage)
