"""The router owns its engines: it closes every one it made, follows new settings itself, and rests hosts as
the error's own attributes say."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import Chunk, EngineError, GenerationRequest, Usage
from freescode_lsp.engines.remote import NodeError
from freescode_lsp.errors import FreescodeError
from freescode_lsp.routing.router import Router

MODEL = "code-llama-7b"


def remote_only(**extra: object) -> Router:
    loaded = settings_from_dict({"network": {"mode": "remote-only"}, **extra})
    assert loaded.problems == []
    return Router.from_settings(loaded.settings)


class ListedRegistry:
    """A registry that names one host for every model, and remembers being closed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.closed = False

    async def hosts_for(self, model_id: str) -> list[dict[str, object]]:
        return [{"url": self.url, "price_per_1k": 0.0, "context": 4096}]

    async def aclose(self) -> None:
        self.closed = True


async def text_of(router: Router, request: GenerationRequest) -> str:
    return "".join([chunk.text async for chunk in router.stream(request)])


async def test_aclose_closes_the_engines_found_through_the_registry(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["from ", "the registry"]}})
    router = remote_only()
    registry = ListedRegistry(stub_node.url)
    router.registry = registry
    assert await text_of(router, GenerationRequest(MODEL, prompt="x", max_tokens=8)) == "from the registry"
    found = router.remote_engines(MODEL)
    clients = [engine._client for engine in found]
    assert len(found) == 1 and found[0] in router.engines()
    assert all(client is not None and not client.is_closed for client in clients)
    await router.aclose()
    assert all(client.is_closed for client in clients)
    assert registry.closed


async def test_new_settings_replace_the_nodes_and_the_old_ones_are_closed(stub_node) -> None:
    stub_node.set_script({"default": {"chunks": ["ok"]}})
    node = {"url": stub_node.url, "models": [MODEL]}
    router = remote_only(nodes=[node])
    assert await text_of(router, GenerationRequest(MODEL, prompt="x", max_tokens=4)) == "ok"
    old = router.remotes[0]
    client = old._client
    assert client is not None and not client.is_closed
    moved = settings_from_dict({"network": {"mode": "remote-only"}, "nodes": [{**node, "price_per_1k": 0.5}]})
    router.apply_settings(moved.settings)
    assert router.remotes[0] is not old and router.remotes[0].price_per_1k == 0.5
    assert not client.is_closed, "a task may still stream from the old node until the grace period ends"
    await router.aclose()
    assert client.is_closed


async def test_loaded_models_survive_a_reload_that_leaves_local_settings_alone() -> None:
    pytest.importorskip("llama_cpp")
    router = Router.from_settings(settings_from_dict({"local": {"threads": 2}}).settings)
    told: list[str] = []
    router.on_warning = told.append
    local = router.local
    assert local is not None
    router.apply_settings(settings_from_dict({"local": {"threads": 2}, "network": {"budget_usd": 3}}).settings)
    assert router.local is local and local.catalog is router.catalog
    router.apply_settings(settings_from_dict({"local": {"threads": 3}}).settings)
    assert router.local is not None and router.local is not local
    assert router.local.warn == told.append
    await router.aclose()


class Failing:
    """An engine that fails at once with the given error."""

    def __init__(self, name: str, error: EngineError) -> None:
        self.name = name
        self.error = error
        self.models = [MODEL]
        self.price_per_1k = 0.0
        self.context = None

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise self.error
        yield Chunk()

    async def aclose(self) -> None:
        pass


class Answering(Failing):
    """An engine that answers "fine"."""

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        yield Chunk("fine", model=request.model, engine=self.name)
        yield Chunk(usage=Usage(1, 1), model=request.model, engine=self.name, finish_reason="stop")


class Overloaded(EngineError):
    """Not a node error at all: only its attributes say the host should rest, and for how long."""

    rests_host = True
    retry_after = 7.0


async def test_the_errors_attributes_decide_whether_and_how_long_a_host_rests() -> None:
    router = remote_only()
    router.remotes = [
        Failing("overloaded", Overloaded("too many requests")),
        Failing("refusing", NodeError("bad request", status=400)),
        Answering("healthy", EngineError("unused")),
    ]
    router.remotes[-1].price_per_1k = 0.01  # scored far behind the free two, so both are tried first
    assert await text_of(router, GenerationRequest(MODEL, prompt="x", max_tokens=4)) == "fine"
    rested = router.book.get("overloaded")
    assert rested.cooling() and 6 < rested.cooldown_until - time.monotonic() <= 7
    assert not router.book.get("refusing").cooling() and router.book.get("refusing").failures == 1
    await router.aclose()


def test_every_error_has_the_one_root_and_says_whether_it_rests_the_host() -> None:
    import importlib
    import pkgutil

    import freescode_lsp

    found = []
    for module in pkgutil.walk_packages(freescode_lsp.__path__, "freescode_lsp."):
        if module.name.startswith("freescode_lsp.testing"):
            continue
        loaded = importlib.import_module(module.name)
        for value in vars(loaded).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.name:
                found.append(value)
    assert len(found) > 20
    assert [kind.__name__ for kind in found if not issubclass(kind, FreescodeError)] == []
    from freescode_lsp.engines.remote import NodeBusy, NodeDeadline, NodeTimeout, NodeUnreachable

    assert {kind.__name__ for kind in found if getattr(kind, "rests_host", False)} == {
        kind.__name__ for kind in (NodeBusy, NodeDeadline, NodeTimeout, NodeUnreachable)
    }
    assert NodeBusy("busy", retry_after=3.0).retry_after == 3.0
    from freescode_lsp.engines.base import EngineError

    assert [kind.__name__ for kind in found if hasattr(kind, "rests_host") and not issubclass(kind, EngineError)] == []


def test_the_api_exports_the_errors_a_caller_may_catch() -> None:
    from freescode_lsp import mesh
    from freescode_lsp.mesh import AllCandidatesFailed, EngineError, get_model_response, model_registry

    assert callable(get_model_response) and model_registry is not None
    assert issubclass(AllCandidatesFailed, EngineError) and issubclass(EngineError, mesh.FreescodeError)


async def test_the_last_chunk_carries_what_the_ledger_recorded_for_every_attempt() -> None:
    from freescode_lsp.testing.stub_node import start_stub_node

    first = start_stub_node({"default": {"chunks": ["Hel", "lo ", "wor"], "die_after": 2}})
    second = start_stub_node({"default": {"chunks": ["world"], "usage": {"prompt_tokens": 10, "completion_tokens": 1}}})
    try:
        nodes = [{"url": first.url, "models": [MODEL], "price_per_1k": 0.001}]
        nodes.append({"url": second.url, "models": [MODEL], "price_per_1k": 0.01})
        router = remote_only(nodes=nodes)
        chunks = [chunk async for chunk in router.stream(GenerationRequest(MODEL, prompt="Say hello: ", max_tokens=16))]
        rows = router.ledger.attempts()
        assert sorted(row.outcome for row in rows) == ["ok", "partial"] and all(row.cost_usd > 0 for row in rows)
        assert chunks[-1].cost_usd == pytest.approx(router.ledger.spent_usd())
        assert [chunk.cost_usd for chunk in chunks[:-1]] == [None] * (len(chunks) - 1)
        await router.aclose()
    finally:
        first.stop()
        second.stop()
