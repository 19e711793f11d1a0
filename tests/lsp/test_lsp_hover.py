"""Hover through the real server: the analyze model explains the unit, cached, never slower than allowed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from freescode_lsp.testing.lsp_harness import Editor
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.samples import SOURCE
from freescode_lsp.testing.waiting import until, until_answered

EXPLAINED = {"chunks": ["Computes the ", "area of a circle."]}
HEADER = "**Free-S_Code** · deepseek-coder-6.7b\n\n"
AREA = types.Range(types.Position(3, 0), types.Position(6, 17))


MODELS = ["deepseek-coder-6.7b", "starcoder2-15b"]


async def hover(client: LanguageClient, uri: str, line: int, character: int) -> types.Hover | None:
    return await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, character))
    )


async def test_a_fast_model_answers_within_the_timeout(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": EXPLAINED})
    await editor.initialize(node_options(stub_node.url, MODELS, hover_timeout_s=10))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    answer = await hover(editor.client, uri, 5, 10)
    assert answer is not None and isinstance(answer.contents, types.MarkupContent)
    assert answer.contents.kind == types.MarkupKind.Markdown
    assert answer.contents.value == HEADER + "Computes the area of a circle."
    assert answer.range == AREA
    requests = stub_node.requests()
    assert len(requests) == 1 and requests[0]["model"] == "deepseek-coder-6.7b"
    assert "def area(radius):" in str(requests[0]) and "Explain" in str(requests[0])
    assert [(r["task"], r["state"], r["model"]) for r in editor.statuses] == [("analyze", "done", "deepseek-coder-6.7b")]
    same_unit = await hover(editor.client, uri, 4, 6)
    assert same_unit == answer
    assert len(stub_node.requests()) == 1
    other = await hover(editor.client, uri, 10, 6)
    assert other is not None and other.range == types.Range(types.Position(9, 0), types.Position(10, 13))
    assert len(stub_node.requests()) == 2
    assert await hover(editor.client, uri, 1, 0) is None
    assert len(stub_node.requests()) == 2


async def test_a_slow_model_answers_the_next_hover_from_the_cache(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {**EXPLAINED, "hold": True}})
    await editor.initialize(node_options(stub_node.url, MODELS, hover_timeout_s=0.3))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    assert await hover(editor.client, uri, 5, 10) is None
    assert await hover(editor.client, uri, 6, 8) is None
    assert stub_node.records()[0]["outcome"] is None, "the hovers must have answered while the model was still held"
    stub_node.release()
    await until(lambda: stub_node.records() and stub_node.records()[0]["outcome"] == "done", "the explanation to finish")
    answer = await until_answered(lambda: hover(editor.client, uri, 5, 10), "the explanation in the cache")
    assert answer is not None and isinstance(answer.contents, types.MarkupContent)
    assert answer.contents.value == HEADER + "Computes the area of a circle."
    assert answer.range == AREA
    assert len(stub_node.requests()) == 1


async def test_hover_disabled_asks_no_model(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": EXPLAINED})
    await editor.initialize(node_options(stub_node.url, MODELS, hover_enabled=False, hover_timeout_s=10))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    assert await hover(editor.client, uri, 5, 10) is None
    await asyncio.sleep(0.3)
    assert stub_node.requests() == []
