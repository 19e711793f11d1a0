"""The brief's API as its users import it: real names a type checker can see, and a router that closes itself."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import freescode_lsp.mesh as mesh
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import EngineError, GenerationRequest
from freescode_lsp.errors import FreescodeError
from freescode_lsp.routing.router import Router


def test_every_export_resolves_to_the_object_in_its_home() -> None:
    assert sorted(mesh.__all__) == sorted(mesh._HOMES)
    for name in mesh.__all__:
        assert getattr(mesh, name) is getattr(importlib.import_module(mesh._HOMES[name]), name)


def test_type_checkers_see_each_export_under_its_own_name() -> None:
    tree = ast.parse(Path(mesh.__file__).read_text(encoding="utf-8"))
    guarded = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {alias.name: node.module for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == mesh._HOMES
    assert (Path(mesh.__file__).parent.parent / "py.typed").is_file()


def test_routing_facts_belong_to_engine_errors_only() -> None:
    assert not hasattr(FreescodeError("x"), "rests_host")
    assert EngineError("x").rests_host is False and EngineError("x").retry_after is None


async def test_the_router_closes_what_it_opened_when_used_with_async_with(stub_node) -> None:
    nodes = [{"url": stub_node.url, "models": ["code-llama-7b"]}]
    settings = settings_from_dict({"nodes": nodes, "network": {"mode": "remote-only"}}).settings
    async with Router.from_settings(settings) as router:
        engine = router.remotes[0]
        request = GenerationRequest(model="code-llama-7b", prompt="hi", max_tokens=4)
        assert "".join([chunk.text async for chunk in router.stream(request)]) == "Hello world"
        assert engine._client is not None and not engine._client.is_closed
    assert engine._client is None
