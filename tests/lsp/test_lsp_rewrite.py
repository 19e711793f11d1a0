"""Streamed rewrites through the real server, as VS Code and Neovim clients see them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from freescode_lsp.testing import typing_sweep
from freescode_lsp.testing.answers import fenced, pieces
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE, SOURCE
from freescode_lsp.testing.waiting import until

SWEEP_LINE_S = 0.3


MODELS = ["code-llama-7b", "wizardcoder-13b", "mistral-7b"]


def tokens_reported(editor: Editor, token: types.ProgressToken) -> bool:
    """Whether the rewrite's progress has reported tokens from the model."""
    reports = editor.client.progress_reports.get(token, [])
    return any(isinstance(r, types.WorkDoneProgressReport) and " tokens from " in (r.message or "") for r in reports)


def fix_args(uri: str, line: int = 5, version: int | None = None) -> dict:
    return {"uri": uri, "task": "fix", "line": line, "endLine": line, "version": version}


async def test_code_actions_name_the_routed_model(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(5, 4), types.Position(5, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = {a.kind: a.title for a in actions}
    assert titles["quickfix.freescode.fix"] == "Fix with code-llama-7b"
    assert titles["refactor.rewrite.freescode.clean"] == "Clean up with mistral-7b"
    assert stub_node.requests() == []
    only = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(5, 4), types.Position(5, 4)),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.RefactorRewrite]),
        )
    )
    assert sorted(a.kind for a in only) == ["refactor.rewrite.freescode.clean", "refactor.rewrite.freescode.refactor"]


async def test_fix_streams_several_edits_and_ends_exact(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED)), "delay_s": 0.02}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == FIXED_SOURCE
    assert len(editor.applied) >= 1 and editor.refused == []
    for params in editor.applied:
        for change in params.edit.document_changes:
            for edit in change.edits:
                assert 3 <= edit.range.start.line and edit.range.end.line <= 7


async def test_typing_outside_the_region_keeps_both(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 4), "delay_s": 0.03}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    command = asyncio.create_task(run_command(editor.client, fix_args(uri)))
    await until(lambda: editor.applied, "the first streamed edit")
    editor.type(uri, 0, 0, "# typed above\n")
    editor.type(uri, len(editor.text(uri).splitlines()) - 1, 0, "    # typed below\n")
    result = await command
    await editor.settled(uri)
    assert result["applied"] is True, result
    expected = "# typed above\n" + FIXED_SOURCE.replace("    return 42\n", "    # typed below\n    return 42\n")
    assert editor.text(uri) == expected


async def test_a_change_crossing_an_edit_in_flight_is_rebased(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED)), "delay_s": 0.02}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    typed = []

    def type_first(params: types.ApplyWorkspaceEditParams) -> None:
        if not typed:
            typed.append(True)
            editor.type(uri, 0, 0, "# user\n")

    editor.before_apply = type_first
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    assert editor.text(uri) == "# user\n" + FIXED_SOURCE
    if editor.flavour == "visual-studio-code":
        assert len(editor.refused) == 1


async def test_a_line_typed_outside_at_any_moment_of_the_stream_lets_the_fix_land(
    editor: Editor, stub_node, tmp_path: Path
) -> None:
    """Every 50 ms of a slow stream, a line typed above or below the function: the fix lands in full each time.

    In Neovim (150 ms debounce) some of these changes cross an edit, which Neovim drops while answering
    "applied"; the sweep must hit that race, and the rewrite must send the edit again.
    """
    stub_node.set_script(typing_sweep.node_script(SWEEP_LINE_S))
    await editor.initialize(typing_sweep.node_settings(stub_node.url))
    trials = await typing_sweep.run_emulated(editor, tmp_path, typing_sweep.trials(SWEEP_LINE_S, 0.05))
    assert [typing_sweep.describe(t) for t in trials if typing_sweep.judge(t)] == []
    if editor.flavour == "neovim":
        assert sum(t.dropped for t in trials) > 0, "no change crossed an edit: the sweep missed the race"


async def test_typing_inside_the_region_stops_and_keeps_the_users_text(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 3), "delay_s": 0.05}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    command = asyncio.create_task(run_command(editor.client, fix_args(uri)))
    await until(lambda: stub_node.requests(), "the model to be asked")
    line = next(i for i, text in enumerate(editor.text(uri).splitlines()) if "Area of a circle" in text)
    editor.type(uri, line, 4, "USER ")
    result = await command
    assert result["applied"] is False and "you edited the code being rewritten" in result["message"]
    after = editor.text(uri)
    await until(lambda: stub_node.records()[0]["outcome"], "the model's stream to end")
    await editor.settled(uri)
    assert editor.text(uri) == after
    assert "USER " in after and "def untouched():\n    return 42\n" in after
    assert any("you edited the code" in m.message for m in editor.client.messages)


async def test_a_word_typed_inside_just_before_an_edit_is_never_overwritten(editor: Editor, stub_node, tmp_path: Path) -> None:
    """Typed inside the function as the first edit reaches the editor: Neovim drops that edit (answering
    "applied"), VS Code refuses it; either way the rewrite stops and sends nothing over the user's word."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 6), "delay_s": 0.005}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    typed = []

    def type_inside(params: types.ApplyWorkspaceEditParams) -> None:
        if not typed:
            typed.append(params)
            editor.type(uri, 5, 4, "USER ")

    editor.before_apply = type_inside
    result = await run_command(editor.client, fix_args(uri))
    await editor.settled(uri)
    assert result["applied"] is False and "you edited the code being rewritten" in result["message"], result
    assert editor.text(uri) == SOURCE.replace("    result = math.pi", "    USER result = math.pi")
    assert editor.applied == []


async def test_refused_edit_without_a_user_change_stops(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED))}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    editor.refuse_next = 100
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is False and "refused" in result["message"]
    assert editor.text(uri) == SOURCE


async def test_an_edit_refused_midway_puts_the_original_back_and_says_so(editor: Editor, stub_node, tmp_path: Path) -> None:
    """A refusal no change explains, after an edit landed: the rewrite stops and its first edit is undone."""
    stub_node.set_script(typing_sweep.node_script(0.02))
    await editor.initialize(typing_sweep.node_settings(stub_node.url))
    uri = editor.open(tmp_path / "summary.py", typing_sweep.SOURCE)

    def refuse_the_second(params: types.ApplyWorkspaceEditParams) -> None:
        if len(editor.applied) == 1 and not editor.refused:
            editor.refuse_next = 1

    editor.before_apply = refuse_the_second
    line = typing_sweep.CURSOR_LINE
    result = await run_command(editor.client, {"uri": uri, "task": "fix", "line": line, "endLine": line})
    await editor.settled(uri)
    assert result["applied"] is False and "refused" in result["message"], result
    assert result["message"].endswith("the original code is back")
    assert len(editor.applied) == 2 and len(editor.refused) == 1
    assert editor.text(uri) == typing_sweep.SOURCE
    assert any(m.message.endswith("the original code is back") for m in editor.client.messages)


async def test_typing_across_every_edit_gives_up_after_a_few_tries_and_undoes(editor: Editor, stub_node, tmp_path: Path) -> None:
    """A change crossing each edit after the first (dropped by Neovim, refused by VS Code): the rewrite tries
    again a few times, then stops, puts the original code back and keeps every typed line."""
    stub_node.set_script(typing_sweep.node_script(0.02))
    await editor.initialize(typing_sweep.node_settings(stub_node.url))
    uri = editor.open(tmp_path / "summary.py", typing_sweep.SOURCE)
    calls = []

    def type_before(params: types.ApplyWorkspaceEditParams) -> None:
        calls.append(params)
        if 2 <= len(calls) <= 10:
            editor.type(uri, 0, 0, f"# {len(calls)}\n")

    editor.before_apply = type_before
    line = typing_sweep.CURSOR_LINE
    result = await run_command(editor.client, {"uri": uri, "task": "fix", "line": line, "endLine": line})
    await editor.settled(uri)
    assert result["applied"] is False and "9 times in a row" in result["message"], result
    assert result["message"].endswith("the original code is back")
    assert len(calls) == 11
    assert editor.text(uri) == "".join(f"# {n}\n" for n in range(10, 1, -1)) + typing_sweep.SOURCE


@pytest.mark.parametrize(
    ("answer", "expected_change"),
    [
        (f"Sure! Here it is:\n\n```python\n{FIXED}```\n\nI squared the radius.", True),
        (FIXED, True),
        ("", False),
        ("I cannot help with that.", False),
        ('{"documentChanges": [{"textDocument": {"uri": "file:///etc/x.py"}, "edits": []}]}', False),
    ],
)
async def test_answers_are_cleaned_or_refused(
    editor: Editor, stub_node, tmp_path: Path, answer: str, expected_change: bool
) -> None:
    stub_node.set_script({"default": {"chunks": pieces(answer) if answer else []}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    await editor.settled(uri)
    if expected_change:
        assert result["applied"] is True
        assert editor.text(uri) == FIXED_SOURCE
    else:
        assert result["applied"] is False and "model" in result["message"]
        assert editor.text(uri) == SOURCE


async def test_oversized_answer_is_refused(editor: Editor, stub_node, tmp_path: Path) -> None:
    huge = "```python\n" + "x = 1\n" * 400 + "```\n"
    stub_node.set_script({"default": {"chunks": pieces(huge, 300)}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    await editor.settled(uri)
    assert result["applied"] is False and "far larger" in result["message"]
    assert editor.text(uri) == SOURCE


async def test_streaming_off_gives_one_edit(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED)), "delay_s": 0.01}})
    await editor.initialize(node_options(stub_node.url, MODELS, streaming=False))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True
    assert len(editor.applied) == 1
    await editor.settled(uri)
    assert editor.text(uri) == FIXED_SOURCE


async def test_cancel_from_progress_stops_generation(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 2), "delay_s": 0.1}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    command = asyncio.create_task(run_command(editor.client, fix_args(uri)))
    token = next(iter(await until(lambda: editor.client.progress_reports, "the progress to begin")))
    await until(lambda: tokens_reported(editor, token), "tokens to stream")
    editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await command
    assert result["applied"] is False and "cancelled" in result["message"]
    count = len(editor.applied)
    await until(lambda: stub_node.records()[-1]["outcome"], "the model's stream to end")
    await editor.settled(uri)
    assert len(editor.applied) == count
    records = stub_node.records()
    assert records[-1]["outcome"] in ("disconnected", "died", "done")


async def test_bad_command_arguments_are_answered(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, {"uri": uri, "task": "teleport", "line": 1})
    assert result["applied"] is False and "task must be one of" in result["message"]
    result = await run_command(editor.client, {"uri": "file:///nowhere.py", "task": "fix", "line": 1})
    assert "is not open" in result["message"]


async def test_an_answer_cut_off_at_the_token_limit_is_not_applied(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(f"```python\n{FIXED}"), "finish_reason": "length"}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    await editor.settled(uri)
    assert result["applied"] is False and "cut off at the token limit" in result["message"]
    assert editor.text(uri) == SOURCE


async def test_form_feeds_and_unicode_separators_do_not_shift_lines(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED))}})
    await editor.initialize(node_options(stub_node.url, MODELS))
    header = "import math\n\x0c\n# note:\u2028still one line\x1c\x85\n"
    source = SOURCE.replace("import math\n", header)
    uri = editor.open(tmp_path / "separators.py", source)
    editor.type(uri, 3, 0, "# typed\n")
    await editor.flushed()
    line = next(i for i, text in enumerate(editor.text(uri).split("\n")) if "math.pi" in text)
    result = await run_command(editor.client, fix_args(uri, line=line, version=editor.version(uri)))
    assert result["applied"] is True, result
    await editor.settled(uri)
    expected = source.replace("\x1c\x85\n", "\x1c\x85\n# typed\n").replace("math.pi * radius\n", "math.pi * radius ** 2\n")
    assert editor.text(uri) == expected
