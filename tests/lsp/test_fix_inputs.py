"""Fix from a code action gets what the editor knows (the diagnostics sent with the request, the line pointed at), and
an answer that is still the code unchanged after the second try is said in one message."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from freescode_lsp.tasks.retry import RETRY_TEMPERATURE
from freescode_lsp.testing.lsp_harness import Editor
from freescode_lsp.testing.samples import FIXED, SOURCE

UNIT = SOURCE[SOURCE.index("def area") : SOURCE.index("\n\n\ndef untouched")] + "\n"
TYPE_ERROR = "Operator '*' not supported for types 'float' and 'str'"


def options(url: str) -> dict:
    return {
        "nodes": [{"url": url, "models": ["code-llama-7b", "wizardcoder-13b"]}],
        "network": {"mode": "remote-only"},
        "server": {"diagnostics_enabled": False},
    }


async def fix_action(editor: Editor, uri: str, diagnostics: list[types.Diagnostic]) -> types.CodeAction:
    """The Fix action the editor lists with the cursor on line 6 (0-based 5)."""
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(5, 4), types.Position(5, 4)),
            context=types.CodeActionContext(diagnostics=diagnostics),
        )
    )
    return next(a for a in actions if isinstance(a, types.CodeAction) and a.kind == "quickfix.freescode.fix")


async def test_the_diagnostics_sent_with_the_action_and_the_line_reach_the_prompt(
    editor: Editor, stub_node, tmp_path: Path
) -> None:
    stub_node.set_script({"default": {"chunks": [f"```python\n{FIXED}```\n"]}})
    await editor.initialize(options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    on_unit = types.Diagnostic(types.Range(types.Position(5, 13), types.Position(5, 30)), TYPE_ERROR, source="pyright")
    result = await editor.perform(await fix_action(editor, uri, [on_unit]))
    assert result["applied"] is True, result
    [request] = stub_node.requests()
    prompt = request["messages"][-1]["content"]
    assert f"line 6: (pyright) {TYPE_ERROR}" in prompt
    assert "The bug is probably on or near this line: `result = math.pi * radius`" in prompt


async def test_still_unchanged_after_the_second_try_is_one_message(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": [f"```python\n{UNIT}```\n"]}})
    await editor.initialize(options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await editor.perform(await fix_action(editor, uri, []))
    assert result["applied"] is False
    first, second = stub_node.requests()
    assert second["temperature"] == RETRY_TEMPERATURE and first["temperature"] < RETRY_TEMPERATURE
    told = [m.message for m in editor.client.messages if "proposed no change" in m.message]
    assert told == ["Free-S_Code: Fix: code-llama-7b proposed no change, asked 2 times; the code is left as it was"]
    assert result["message"] == told[0].removeprefix("Free-S_Code: ")
    assert editor.text(uri) == SOURCE


async def test_still_unchanged_with_streaming_off_is_one_message_too(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": [f"```python\n{UNIT}```\n"]}})
    await editor.initialize({**options(stub_node.url), "server": {"diagnostics_enabled": False, "streaming": False}})
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    await editor.perform(await fix_action(editor, uri, []))
    assert len(stub_node.requests()) == 2
    told = [m.message for m in editor.client.messages if "proposed no change" in m.message]
    assert told == ["Free-S_Code: Fix: code-llama-7b proposed no change, asked 2 times; the code is left as it was"]
    assert editor.text(uri) == SOURCE
