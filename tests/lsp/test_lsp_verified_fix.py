"""Fix and verify through the real server: the check runs in a scratch copy, a verified fix lands, cancel kills it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.waiting import until

pytestmark = pytest.mark.usefixtures("checks_without_plugins")

SOURCE = "def average(values):\n    return sum(values) / len(values) + 1\n\n\ndef untouched():\n    return 42\n"
WRONG = "def average(values):\n    return sum(values) / len(values) + 2\n"
RIGHT = "def average(values):\n    return sum(values) / len(values)\n"
TESTS = "from stats import average\n\n\ndef test_mean():\n    assert average([1, 2, 3]) == 2\n"


def answer(code: str) -> dict[str, list[str]]:
    return {"chunks": [f"```python\n{code}```\n"]}


def project(root: Path) -> Path:
    (root / "stats.py").write_text(SOURCE)
    (root / "tests").mkdir()
    (root / "tests" / "test_stats.py").write_text(TESTS)
    return root / "stats.py"


async def verified_action(editor: Editor, uri: str) -> types.CodeAction:
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(1, 4), types.Position(1, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    found = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.kind == "quickfix.freescode.fixVerified"]
    assert [a.title for a in found] == ["Fix and verify with code-llama-7b"]
    return found[0]


def reported(editor: Editor) -> list[str]:
    return [
        report.message or ""
        for reports in editor.client.progress_reports.values()
        for report in reports
        if isinstance(report, (types.WorkDoneProgressReport, types.WorkDoneProgressEnd))
    ]


async def test_a_wrong_fix_is_retried_and_the_verified_one_lands(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [answer(WRONG), answer(RIGHT)]})
    await editor.initialize(node_options(stub_node.url), root=tmp_path)
    uri = editor.open(project(tmp_path), SOURCE)
    result = await editor.perform(await verified_action(editor, uri))
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == SOURCE.replace(" + 1\n", "\n")
    assert (tmp_path / "stats.py").read_text() == SOURCE
    said = reported(editor)
    assert any(m.startswith("attempt 1 of 3: `") and "failed (exit 1)" in m for m in said), said
    assert any(m.startswith("verified: `") and m.endswith("passed (attempt 2 of 3)") for m in said), said
    assert "The code above fails the project's check" in stub_node.requests()[1]["messages"][-1]["content"]


async def test_nothing_lands_when_no_candidate_passes(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": answer(WRONG)})
    await editor.initialize(node_options(stub_node.url), root=tmp_path)
    uri = editor.open(project(tmp_path), SOURCE)
    result = await editor.perform(await verified_action(editor, uri))
    assert result["applied"] is False and result["message"].startswith("not verified"), result
    assert editor.text(uri) == SOURCE and editor.applied == []
    assert len(stub_node.requests()) == 3
    assert any("not verified" in m.message and "Last check output" in m.message for m in editor.client.messages)


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


async def test_cancel_during_a_check_stops_its_processes(editor: Editor, stub_node, tmp_path: Path) -> None:
    pid_file = tmp_path.parent / f"{tmp_path.name}.pids"
    code = (
        "import os, subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}\\n'); "
        "time.sleep(600)"
    )
    command = f'{sys.executable} -c "{code}"'
    await editor.initialize({**node_options(stub_node.url), "verify": {"command": command}}, root=tmp_path)
    uri = editor.open(project(tmp_path), SOURCE)
    running = asyncio.ensure_future(editor.perform(await verified_action(editor, uri)))
    await until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), "the check to start")
    token = next(iter(editor.client.progress_reports))
    editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await running
    assert result["applied"] is False and "cancelled" in result["message"], result
    for pid in map(int, pid_file.read_text().split()):
        await until(lambda pid=pid: not alive(pid), f"process {pid} of the cancelled check to be gone")
    assert editor.text(uri) == SOURCE and stub_node.requests() == []


TWO_TESTS = TESTS + "\n\ndef test_empty():\n    assert average([]) == 0.0\n"
CANDIDATE_KIND = "quickfix.freescode.fixVerified.unverified"


async def candidate_actions(editor: Editor, uri: str) -> list[types.CodeAction]:
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(1, 4), types.Position(1, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in actions or [] if isinstance(a, types.CodeAction) and a.kind == CANDIDATE_KIND]


async def half_right_project(editor: Editor, stub_node, tmp_path: Path) -> str:
    """A project with two tests, open in the editor, whose model answers a fix that passes only one of them."""
    stub_node.set_script({"default": answer(RIGHT)})
    await editor.initialize(node_options(stub_node.url), root=tmp_path)
    path = project(tmp_path)
    (tmp_path / "tests" / "test_stats.py").write_text(TWO_TESTS)
    return editor.open(path, SOURCE)


async def test_the_best_unverified_candidate_is_offered_as_its_own_action(editor: Editor, stub_node, tmp_path: Path) -> None:
    uri = await half_right_project(editor, stub_node, tmp_path)
    result = await editor.perform(await verified_action(editor, uri))
    assert result["applied"] is False and result["message"].startswith("not verified"), result
    assert editor.text(uri) == SOURCE and len(stub_node.requests()) == 3
    title = "Apply best unverified candidate (1 of 2 tests passed)"
    assert any(f'use the code action "{title}"' in m.message for m in editor.client.messages)
    [action] = await candidate_actions(editor, uri)
    assert action.title == title
    applied = await editor.perform(action)
    assert applied["applied"] is True and "not verified" in applied["message"], applied
    await editor.settled(uri)
    assert editor.text(uri) == SOURCE.replace(" + 1\n", "\n")
    assert await candidate_actions(editor, uri) == []
    assert (tmp_path / "stats.py").read_text() == SOURCE


async def test_an_unverified_candidate_is_not_applied_once_the_file_changed(editor: Editor, stub_node, tmp_path: Path) -> None:
    uri = await half_right_project(editor, stub_node, tmp_path)
    await editor.perform(await verified_action(editor, uri))
    [action] = await candidate_actions(editor, uri)
    editor.type(uri, 4, 0, "# typed\n")
    await editor.settled(uri)
    assert await candidate_actions(editor, uri) == []
    refused = await editor.perform(action)
    assert refused["applied"] is False and "run Fix and verify again" in refused["message"], refused
    assert editor.text(uri) == SOURCE.replace("def untouched", "# typed\ndef untouched")


async def test_a_verified_fix_lands_in_place_when_the_user_types_above_it(editor: Editor, stub_node, tmp_path: Path) -> None:
    body = "import math\n\n\n" + SOURCE
    stub_node.set_script({"queue": [answer(RIGHT)]})
    await editor.initialize(node_options(stub_node.url), root=tmp_path)
    path = project(tmp_path)
    path.write_text(body)
    uri = editor.open(path, body)
    typed: list[bool] = []

    def type_first(_params: types.ApplyWorkspaceEditParams) -> None:
        if not typed:
            typed.append(True)
            editor.type(uri, 0, 0, "# typed\n")

    editor.before_apply = type_first
    action = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(4, 4), types.Position(4, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    [verified] = [a for a in action or [] if isinstance(a, types.CodeAction) and a.kind == "quickfix.freescode.fixVerified"]
    result = await editor.perform(verified)
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == "# typed\n" + body.replace(" + 1\n", "\n")


PASSING = SOURCE.replace(" + 1\n", "\n")
GUARD_CHECK = f"{sys.executable} -m pytest -q -p no:cacheprovider {{tests}}"


async def plain_fix(editor: Editor, uri: str) -> dict[str, object]:
    return await run_command(editor.client, {"uri": uri, "task": "fix", "line": 1, "version": editor.version(uri)})


async def test_a_plain_fix_that_breaks_a_passing_test_is_said_so_and_can_be_undone(
    editor: Editor, stub_node, tmp_path: Path
) -> None:
    stub_node.set_script({"queue": [answer(WRONG)]})
    await editor.initialize({**node_options(stub_node.url), "verify": {"command": GUARD_CHECK}}, root=tmp_path)
    path = project(tmp_path)
    path.write_text(PASSING)
    uri = editor.open(path, PASSING)
    result = await plain_fix(editor, uri)
    assert result["applied"] is True and "1 test passed before the fix, 0 after it" in result["message"], result
    await editor.settled(uri)
    assert editor.text(uri) == SOURCE.replace(" + 1\n", " + 2\n")
    title = "Undo the Fix (1 test passed before, 0 after)"
    warned = [m.message for m in editor.client.messages if "makes things worse" in m.message]
    assert warned and "failing now: tests/test_stats.py::test_mean" in warned[0] and title in warned[0], warned
    [undo] = await candidate_actions(editor, uri)
    assert undo.title == title
    undone = await editor.perform(undo)
    assert undone["applied"] is True, undone
    await editor.settled(uri)
    assert editor.text(uri) == PASSING and path.read_text() == PASSING


async def test_a_plain_fix_that_keeps_the_tests_passing_lands_with_no_warning(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [answer(RIGHT)]})
    await editor.initialize({**node_options(stub_node.url), "verify": {"command": GUARD_CHECK}}, root=tmp_path)
    uri = editor.open(project(tmp_path), SOURCE)
    result = await plain_fix(editor, uri)
    assert result["applied"] is True and "0 tests passed before the fix, 1 after it" in result["message"], result
    assert not [m for m in editor.client.messages if "worse" in m.message]
    assert await candidate_actions(editor, uri) == []


async def test_without_a_configured_check_a_plain_fix_runs_nothing(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"queue": [answer(WRONG)]})
    await editor.initialize(node_options(stub_node.url), root=tmp_path)
    path = project(tmp_path)
    path.write_text(PASSING)
    uri = editor.open(path, PASSING)
    result = await plain_fix(editor, uri)
    assert result["applied"] is True and "tests passed" not in result["message"], result
    assert await candidate_actions(editor, uri) == []
