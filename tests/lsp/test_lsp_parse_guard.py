"""A streamed fix whose final answer would leave the file unparsable is undone in the editor, and the user is told."""

from __future__ import annotations

from pathlib import Path

from freescode_lsp.testing.answers import fenced, pieces
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.samples import SOURCE

BROKEN = '''def area(radius):
    """Area of a circle."""
    result = math.pi * radius ** 2
    return "area: + str(result)
'''


async def test_an_unparsable_answer_is_taken_back_out_and_explained(editor: Editor, stub_node, tmp_path: Path) -> None:
    text = fenced(BROKEN)
    stub_node.set_script({"default": {"chunks": pieces(text), "delay_s": 0.02}})
    await editor.initialize(node_options(stub_node.url, ["code-llama-7b"]))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, {"uri": uri, "task": "fix", "line": 5, "endLine": 5})
    await editor.settled(uri)
    assert result["applied"] is False, result
    assert "would leave the file unparsable (line 7: unterminated string literal" in result["message"], result
    assert len(editor.applied) >= 2, "the stream applied no line before the end, so nothing had to be taken back"
    assert editor.text(uri) == SOURCE
    assert any("unparsable" in message.message for message in editor.client.messages)
