"""Diagnostics through the real server: syntax errors at once, model findings on save and when idle."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from freescode_lsp.testing.answers import bugs
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.samples import SOURCE
from freescode_lsp.testing.waiting import until

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS


NO_BUGS = bugs()


MODELS = ["starcoder2-15b", "code-llama-7b", "deepseek-coder-6.7b"]


def diagnostics_options(url: str, **server: object) -> dict[str, Any]:
    """One node serving the debug model, remote only; diagnostics on, idle runs only when a test asks."""
    return node_options(url, MODELS, **{"diagnostics_enabled": True, "diagnostics_idle_s": 60, **server})


def save(editor: Editor, uri: str) -> None:
    """Save as an editor does: pending changes are reported first."""
    editor._send_changes(uri)
    editor.client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))


def model_diagnostics(client: LanguageClient, uri: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.code == "debug"]


def as_text(body: Any) -> str:
    """The request as text, to look for the numbered lines the debug prompt shows the model."""
    return json.dumps(body)


def units(editor: Editor, text: str) -> int:
    """Length of text in the position encoding the server chose for this editor (Neovim prefers UTF-8)."""
    if editor.encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if editor.encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def fix_action(actions: list[types.CodeAction] | None) -> types.CodeAction:
    return next(a for a in actions or [] if a.kind == "quickfix.freescode.fix")


async def code_actions_for(client: LanguageClient, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )


async def test_syntax_error_is_published_at_once_with_a_fix(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(diagnostics_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE.replace("def area(radius):", "def area(radius)"))
    published = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert published.uri == uri
    [diagnostic] = published.diagnostics
    assert diagnostic.source == "freescode" and diagnostic.code == "syntax"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start.line == 3 and diagnostic.range.end.line == 3
    assert "expected ':'" in diagnostic.message
    action = fix_action(await code_actions_for(editor.client, uri, diagnostic))
    assert action.title == "Fix with code-llama-7b"
    assert list(action.diagnostics or []) == [diagnostic] and action.is_preferred is True
    save(editor, uri)
    after_save = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert [d.code for d in after_save.diagnostics] == ["syntax"]
    assert stub_node.requests() == []
    editor.type(uri, 3, 16, ":")
    repaired = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert list(repaired.diagnostics) == []


async def test_save_publishes_the_models_findings(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [bugs((6, "radius is not squared")), NO_BUGS], "default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    save(editor, uri)
    [diagnostic] = await until(lambda: model_diagnostics(editor.client, uri))
    assert diagnostic.source == "freescode"
    assert diagnostic.message == "radius is not squared (starcoder2-15b)"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range == types.Range(types.Position(5, 4), types.Position(5, 29))
    assert list(editor.client.diagnostics[uri]) == [diagnostic]
    requests = await until(lambda: len(stub_node.requests()) == 2 and stub_node.requests())
    assert "   6 |     result = math.pi * radius" in as_text(requests[0])
    assert "  10 | def untouched():" not in as_text(requests[0])
    assert "  10 | def untouched():" in as_text(requests[1])
    assert all(r["model"] == "starcoder2-15b" and "response_format" in r for r in requests)
    reports = await until(lambda: len(editor.statuses) >= 2 and editor.statuses)
    assert [(r["task"], r["state"], r["model"]) for r in reports] == [("debug", "done", "starcoder2-15b")] * 2
    action = fix_action(await code_actions_for(editor.client, uri, diagnostic))
    assert action.title == "Fix with code-llama-7b" and list(action.diagnostics or []) == [diagnostic]


async def test_cache_and_moves_send_only_changed_units(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [bugs((6, "radius is not squared")), NO_BUGS], "default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    save(editor, uri)
    await until(lambda: model_diagnostics(editor.client, uri) and len(stub_node.requests()) == 2)
    save(editor, uri)
    again = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert [d.message for d in again.diagnostics] == ["radius is not squared (starcoder2-15b)"]
    assert len(stub_node.requests()) == 2
    editor.type(uri, 0, 0, "# one\n# two\n")
    moved = await until(lambda: [d.range.start.line for d in model_diagnostics(editor.client, uri)] == [7])
    assert moved
    last = editor.text(uri).splitlines().index("    return 42")
    editor.type(uri, last, 12, "3", end=(last, 13))
    save(editor, uri)
    await until(lambda: len(stub_node.requests()) == 3)
    await until(lambda: stub_node.records()[-1]["outcome"] == "done")
    third = as_text(stub_node.requests()[2])
    assert "  12 | def untouched():" in third and "  13 |     return 43" in third
    assert "| def area(radius):" not in third
    await until(lambda: [d.range.start.line for d in model_diagnostics(editor.client, uri)] == [7])
    editor.type(uri, 7, 29, " ** 2")
    await until(lambda: model_diagnostics(editor.client, uri) == [])
    editor.type(uri, 7, 29, "", end=(7, 34))
    save(editor, uri)
    back = await until(lambda: model_diagnostics(editor.client, uri))
    assert [(d.range.start.line, d.message) for d in back] == [(7, "radius is not squared (starcoder2-15b)")]
    assert len(stub_node.requests()) == 3


def on_the_last_version(stub_node: Any) -> bool:
    """Whether a run on the text with all five keystrokes has finished: a run per keystroke would have started first."""
    records = stub_node.records()
    last = [r for r in records if '"""xxxxxArea' in as_text(r["body"]).replace('\\"', '"')]
    return bool(last) and all(r["outcome"] == "done" for r in records)


async def test_quick_changes_make_one_run_after_the_idle_time(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url, diagnostics_idle_s=0.8))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    await until(lambda: len(stub_node.records()) == 2 and all(r["outcome"] == "done" for r in stub_node.records()))
    stub_node.clear()
    for _ in range(5):
        editor.type(uri, 4, 7, "x")
        await asyncio.sleep(0.05)
    await until(lambda: on_the_last_version(stub_node), "a finished run on the text with every keystroke")
    requests = stub_node.requests()
    assert len(requests) == 1
    assert '"""xxxxxArea of a circle."""' in as_text(requests[0]).replace('\\"', '"')


async def test_a_new_version_cancels_the_running_check(editor: Editor, stub_node, tmp_path: Path) -> None:
    stale = {**bugs((6, "stale finding")), "hold": True}
    fresh = bugs((6, "fresh finding"))
    stub_node.set_script({"queue": [stale, fresh, NO_BUGS], "default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url))
    published: list[types.PublishDiagnosticsParams] = []

    def record(params: types.PublishDiagnosticsParams) -> None:
        published.append(params)
        editor.client.protocol.wait_for_notification(PUBLISH, record)

    editor.client.protocol.wait_for_notification(PUBLISH, record)
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    save(editor, uri)
    await until(lambda: len(stub_node.records()) == 1)
    editor.type(uri, 5, 29, " * 1")
    save(editor, uri)
    [diagnostic] = await until(lambda: model_diagnostics(editor.client, uri))
    assert diagnostic.message == "fresh finding (starcoder2-15b)"
    first = await until(lambda: stub_node.records()[0]["outcome"])
    assert first == "disconnected"
    await until(lambda: len(stub_node.records()) == 3 and stub_node.records()[-1]["outcome"] == "done")
    await editor.settled(uri)
    messages = [d.message for params in published for d in params.diagnostics]
    assert "fresh finding (starcoder2-15b)" in messages
    assert not any("stale" in message for message in messages)


async def test_find_bugs_command_publishes_findings(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [bugs((6, "radius is not squared"))], "default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url, diagnostics_enabled=False))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, {"uri": uri, "task": "debug", "line": 5, "endLine": 5})
    assert result["applied"] is False and result["findings"] == 1 and result["model"] == "starcoder2-15b"
    assert "1 possible bug" in result["message"]
    [diagnostic] = await until(lambda: model_diagnostics(editor.client, uri))
    assert diagnostic.message == "radius is not squared (starcoder2-15b)"
    assert diagnostic.range == types.Range(types.Position(5, 4), types.Position(5, 29))
    again = await run_command(editor.client, {"uri": uri, "task": "debug", "line": 4, "endLine": 4})
    assert again["findings"] == 1
    requests = stub_node.requests()
    assert len(requests) == 1 and "   4 | def area(radius):" in as_text(requests[0])
    editor.close(uri)
    cleared = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert cleared.uri == uri and list(cleared.diagnostics) == []


async def test_find_bugs_on_a_file_over_the_limit_tells_the_user(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(diagnostics_options(stub_node.url, max_file_bytes=40))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    save(editor, uri)
    result = await run_command(editor.client, {"uri": uri, "task": "debug", "line": 5, "endLine": 5})
    assert result["applied"] is False and "limit" in result["message"]
    assert any("limit" in m.message for m in editor.client.messages)
    assert stub_node.requests() == []


async def test_ranges_count_in_the_clients_position_encoding(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [bugs((6, "radius is not squared"))], "default": NO_BUGS})
    await editor.initialize(diagnostics_options(stub_node.url))
    commented = SOURCE.replace("math.pi * radius\n", "math.pi * radius  # «½» 🙂\n")
    broken = commented.replace("    return 42\n", '    return "🙂é" + )\n')
    uri = editor.open(tmp_path / "shapes.py", broken)
    published = await asyncio.wait_for(editor.client.wait_for_notification(PUBLISH), 10)
    assert editor.encoding == ("utf-8" if editor.flavour == "neovim" else "utf-16")
    [syntax] = published.diagnostics
    bad = broken.splitlines()[10]
    column = bad.index(")")
    assert syntax.range == types.Range(
        types.Position(10, units(editor, bad[:column])), types.Position(10, units(editor, bad[: column + 1]))
    )
    editor.type(uri, 10, 0, '    return "🙂é"\n', end=(11, 0))
    await until(lambda: uri in editor.client.diagnostics and not editor.client.diagnostics[uri])
    result = await run_command(editor.client, {"uri": uri, "task": "debug", "line": 5, "endLine": 5})
    assert result["findings"] == 1
    [finding] = await until(lambda: model_diagnostics(editor.client, uri))
    line = commented.splitlines()[5]
    assert finding.range == types.Range(types.Position(5, 4), types.Position(5, units(editor, line)))
