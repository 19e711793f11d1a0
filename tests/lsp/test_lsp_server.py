"""The server as editors meet it: settings, status, hostile input, encodings, limits, TCP, resolve, latency."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcMethodNotFound,
)
from pytest_lsp import LanguageClient

from freescode_lsp.testing.answers import fenced, streamed
from freescode_lsp.testing.lsp_harness import SERVER_COMMAND, Editor, raw_request, run_command, send_raw
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE, SOURCE
from freescode_lsp.testing.waiting import until, until_answered, wait_for

BEFORE_AREA = "import math\n\n\n"
AFTER_AREA = "\n\ndef untouched():\n    return 42\n"
KINDS = {
    "fix": "quickfix.freescode.fix",
    "debug": "source.freescode.debug",
    "clean": "refactor.rewrite.freescode.clean",
    "refactor": "refactor.rewrite.freescode.refactor",
    "fix_verified": "quickfix.freescode.fixVerified",
}
ROUTED_TITLES = {
    KINDS["fix"]: "Fix with code-llama-7b",
    KINDS["debug"]: "Find bugs with starcoder2-15b",
    KINDS["clean"]: "Clean up with mistral-7b",
    KINDS["refactor"]: "Refactor with wizardcoder-python-34b",
    KINDS["fix_verified"]: "Fix and verify with code-llama-7b",
}
UNICODE_SOURCE = (
    "# café ☕ — 数据 😀\n"
    "def greet(name):\n"
    '    """Say hi to naïve users 😀."""\n'
    '    return "héllo 😀" + nam\n'
    "\n"
    "\n"
    "def last():\n"
    '    return "末尾 é 😀" + 1'
)
GREET_FIXED = 'def greet(name):\n    """Say hi to naïve users 😀."""\n    return "héllo 😀ü " + name + " 🎉"\n'
LAST_FIXED = 'def last():\n    return "末尾 é 😀 ✓"\n'


def fix_args(uri: str, line: int = 5) -> dict[str, Any]:
    """freescode.runTask arguments for a fix at a cursor line."""
    return {"uri": uri, "task": "fix", "line": line, "endLine": line}


def prompt_of(body: dict[str, Any]) -> str:
    """The text a generation request sent to the node: chat messages or the completion prompt."""
    messages = body.get("messages") or []
    return "\n".join(str(m.get("content", "")) for m in messages) + str(body.get("prompt", ""))


def units(editor: Editor, uri: str, line: int, prefix: str) -> int:
    """The character offset, in the negotiated encoding, just after `prefix` on the buffer's line."""
    text = editor.documents[uri].lines[line]
    assert text.startswith(prefix), (text, prefix)
    return editor.documents[uri].position_codec.client_num_units(prefix)


async def code_actions(
    editor: Editor,
    uri: str,
    line: int,
    character: int = 0,
    diagnostics: list[types.Diagnostic] | None = None,
) -> list[types.CodeAction]:
    """textDocument/codeAction at a cursor."""
    position = types.Position(line, character)
    answer = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(position, position),
            context=types.CodeActionContext(diagnostics=diagnostics or []),
        )
    )
    assert answer is not None
    assert all(isinstance(action, types.CodeAction) for action in answer)
    return answer  # type: ignore[return-value]


async def fix_action(editor: Editor, uri: str, line: int, character: int = 0) -> types.CodeAction:
    """The listed Fix action at a cursor."""
    actions = await code_actions(editor, uri, line, character)
    return next(action for action in actions if action.kind == KINDS["fix"])


async def fix_title(editor: Editor, uri: str) -> str:
    """The Fix action's title now."""
    return (await fix_action(editor, uri, 5)).title


async def title_becomes(editor: Editor, uri: str, expected: str) -> None:
    """Until the Fix action's title is `expected` (settings apply asynchronously)."""

    async def titled() -> bool:
        return await fix_title(editor, uri) == expected

    await until_answered(titled, f"the Fix title {expected!r}")


def shown(editor: Editor, text: str) -> list[str]:
    """window/showMessage texts containing `text`."""
    return [m.message for m in editor.client.messages if text in m.message]


async def test_bad_initialization_options_are_named_and_defaults_used(editor: Editor, stub_node, tmp_path: Path) -> None:
    options = node_options(stub_node.url)
    options["local"] = {"threads": "many"}
    options["network"] = {"mode": "sometimes"}
    await editor.initialize(options)
    warnings = await until(lambda: shown(editor, "settings"), "the settings warning")
    assert len(warnings) == 1, editor.client.messages
    warning = warnings[0]
    assert "local.threads" in warning and "'many'" in warning
    assert "network.mode" in warning and "'sometimes'" in warning
    assert "defaults" in warning
    assert [m.type for m in editor.client.messages if m.message == warning] == [types.MessageType.Warning]
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    actions = await code_actions(editor, uri, 5)
    assert {action.kind: action.title for action in actions} == ROUTED_TITLES
    assert stub_node.requests() == []


async def test_hostile_workspace_settings_cost_their_keys_and_are_shown_briefly(editor: Editor, tmp_path: Path) -> None:
    (tmp_path / "freescode.toml").write_text(
        '[local]\nmemory_budget_gb = inf\nthreads = 100000\n[network]\nmode = "local-first"\n'
        'nodes = "abc"\n[routing]\nfix = "mistral-7b"\n'
    )
    huge = "z" * 3_000_000
    result = await editor.initialize({"server": {"diagnostics_enabled": False, "max_tokens": huge}, huge: 1}, root=tmp_path)
    assert result.capabilities.code_action_provider is not None
    warnings = await until(lambda: shown(editor, "settings"), "the settings warning")
    assert len(warnings) == 1 and len(warnings[0]) < 5000, [len(w) for w in warnings]
    for key in ("local.memory_budget_gb", "local.threads", "network.nodes", "server.max_tokens", "(3,000,000 characters)"):
        assert key in warnings[0], (key, warnings[0][:2000])
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    assert (await fix_action(editor, uri, 5)).title in ("Fix with mistral-7b", "Fix with gemma-3-270m")
    questions = await until(lambda: editor.questions, "the trust question")
    assert len(questions) == 1 and "network.mode" in questions[0].message and "trust" in questions[0].message


async def test_a_rewrite_on_a_docstring_is_refused(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "gcd.py", 'def gcd(a, b):\n    return a\n\n\n"""\nInput: a, b\n"""\n')
    result = await run_command(editor.client, {"uri": uri, "task": "fix", "line": 5, "endLine": 5})
    assert result["applied"] is False and "is in a docstring, not code" in result["message"], result
    after = await run_command(editor.client, {"uri": uri, "task": "clean", "line": 2, "endLine": 2})
    assert "docstring" not in after.get("message", ""), after
    assert [r["model"] for r in stub_node.requests()] == ["mistral-7b"]


async def test_configuration_is_pulled_and_followed_without_restart(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    settings = node_options(stub_node.url)
    editor.client.set_configuration({**settings, "routing": {"fix": "mistral-7b"}}, section="freescode")
    await editor.initialize()
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    await title_becomes(editor, uri, "Fix with mistral-7b")

    editor.client.set_configuration({**settings, "routing": {"fix": "deepseek-coder-33b"}}, section="freescode")
    editor.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await title_becomes(editor, uri, "Fix with deepseek-coder-33b")
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    assert [body["model"] for body in stub_node.requests()] == ["deepseek-coder-33b"]

    pushed = {"freescode": {**settings, "routing": {"fix": "starcoder-15b"}}}
    editor.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=pushed))
    await title_becomes(editor, uri, "Fix with starcoder-15b")
    assert shown(editor, "settings") == []


async def test_status_names_model_engine_tokens_and_cost(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {**streamed(fenced(FIXED)), "usage": {"prompt_tokens": 321, "completion_tokens": 45}}})
    await editor.initialize(node_options(stub_node.url, price=0.002))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    finals = await until(lambda: [s for s in editor.statuses if s["state"] in ("done", "failed")], "the final status")
    assert len(finals) == 1, editor.statuses
    final = finals[0]
    engine = f"node:{stub_node.url}"
    assert {key: final[key] for key in final if key not in ("seconds", "tokensPerSecond")} == {
        "state": "done",
        "task": "fix",
        "model": "code-llama-7b",
        "requestedModel": "code-llama-7b",
        "engine": engine,
        "promptTokens": 321,
        "completionTokens": 45,
        "costUsd": pytest.approx((321 + 45) / 1000 * 0.002),
        "problem": None,
        "fallbackReason": None,
    }
    assert final["seconds"] >= 0
    assert editor.statuses[0] == {"state": "streaming", "task": "fix", "model": "code-llama-7b", "completionTokens": 0}
    logs = [m.message for m in editor.client.log_messages if "code-llama-7b" in m.message and engine in m.message]
    assert len(logs) == 1, [m.message for m in editor.client.log_messages]
    assert "321 prompt + 45 completion tokens" in logs[0] and "$0.000732" in logs[0]


async def test_the_user_is_told_once_why_the_routed_model_was_not_used(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"models": ["gemma-3-270m"], "default": streamed(fenced(FIXED))})
    dead = f"http://127.0.0.1:{free_port()}"
    options = node_options(stub_node.url)
    options["nodes"] = [{"url": dead, "models": ["code-llama-7b"]}, {"url": stub_node.url, "models": ["gemma-3-270m"]}]
    await editor.initialize(options)
    for name in ("one.py", "two.py"):
        uri = editor.open(tmp_path / name, SOURCE)
        result = await run_command(editor.client, fix_args(uri))
        assert result["applied"] is True, result
    finals = await until(lambda: [s for s in editor.statuses if s["state"] in ("done", "failed")][1:], "two final statuses")
    reasons = [s["fallbackReason"] for s in editor.statuses if s["state"] == "done"]
    assert len(reasons) == 2 and all(r and r.startswith(f"code-llama-7b@node:{dead} failed") for r in reasons), finals
    told = shown(editor, "code-llama-7b was not used, gemma-3-270m answered instead")
    assert len(told) == 1 and "check that node" in told[0], told
    logged = [m.message for m in editor.client.log_messages if "was not used" in m.message]
    assert len(logged) == 1, logged


async def test_unknown_methods_and_unreadable_params_get_errors(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    with pytest.raises(JsonRpcMethodNotFound):
        await asyncio.wait_for(raw_request(editor.client, "freescode/noSuchMethod", {"x": 1}), 10)
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}
    unreadable = [
        (types.TEXT_DOCUMENT_CODE_ACTION, {"textDocument": {"uri": 5}, "range": "everything", "context": []}),
        (types.TEXT_DOCUMENT_CODE_ACTION, {"textDocument": {"uri": uri}, "range": whole}),
        (
            types.TEXT_DOCUMENT_CODE_ACTION,
            {
                "textDocument": {"uri": uri},
                "range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}},
                "context": {"diagnostics": []},
            },
        ),
        (types.WORKSPACE_EXECUTE_COMMAND, {"command": 5, "arguments": "all of them"}),
        (types.CODE_ACTION_RESOLVE, {"kind": "quickfix", "diagnostics": "none"}),
    ]
    for method, params in unreadable:
        with pytest.raises(JsonRpcException) as error:
            await asyncio.wait_for(raw_request(editor.client, method, params), 10)
        assert error.value.code == JsonRpcInvalidParams.CODE, (method, params, error.value)
    with pytest.raises(JsonRpcInvalidParams, match="freescode.nope"):
        unknown = {"command": "freescode.nope"}
        await asyncio.wait_for(raw_request(editor.client, types.WORKSPACE_EXECUTE_COMMAND, unknown), 10)
    assert {action.kind: action.title for action in await code_actions(editor, uri, 5)} == ROUTED_TITLES


async def test_garbage_on_the_wire_does_not_stop_the_server(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    bodies = [
        b"{not json}",
        b"\xff\xfe\x00\x00garbage",
        b"[1, 2, 3]",
        b"null",
        b'"just a string"',
        b'{"jsonrpc": "2.0", "id": 424242}',
        b'{"jsonrpc": "2.0", "method": 17, "params": {}}',
        b'{"jsonrpc": "1.0", "id": 7, "method": "initialize", "params": {}}',
    ]
    for body in bodies:
        send_raw(editor.client, body)
    send_raw(editor.client, b"")
    assert editor.client.protocol.writer is not None
    editor.client.protocol.writer.write(b"this is not a header\r\n")
    assert {action.kind: action.title for action in await code_actions(editor, uri, 5)} == ROUTED_TITLES
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == FIXED_SOURCE
    server = editor.client._server
    assert server is not None and server.returncode is None


def with_bad_byte(message: dict) -> bytes:
    """The message as JSON with the marker @@ replaced by a byte that is not UTF-8."""
    return json.dumps(message).encode("utf-8").replace(b"@@", b"\xff")


async def test_a_request_that_is_not_utf8_is_answered_with_its_id(editor: Editor, stub_node, tmp_path: Path) -> None:
    from concurrent.futures import Future

    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    answer: Future[Any] = Future()
    editor.client.protocol._request_futures["bad-bytes-1"] = answer
    position = {"line": 5, "character": 4}
    send_raw(
        editor.client,
        with_bad_byte(
            {
                "jsonrpc": "2.0",
                "id": "bad-bytes-1",
                "method": "textDocument/hover",
                "params": {"textDocument": {"uri": uri + "@@"}, "position": position},
            }
        ),
    )
    with pytest.raises(JsonRpcException) as failure:
        await asyncio.wait_for(asyncio.wrap_future(answer), 10)
    assert failure.value.code == -32700
    assert "not valid UTF-8 (byte 0xff at offset" in failure.value.message
    assert {action.kind: action.title for action in await code_actions(editor, uri, 5)} == ROUTED_TITLES


async def test_an_unreadable_change_pauses_tasks_until_the_file_is_reopened(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url))
    path = tmp_path / "shapes.py"
    uri = editor.open(path, SOURCE)
    change = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "# @@\n"}
    body = with_bad_byte(
        {
            "jsonrpc": "2.0",
            "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": uri, "version": 50}, "contentChanges": [change]},
        }
    )
    send_raw(editor.client, body)
    offset = body.index(b"\xff")
    warnings = await until(lambda: shown(editor, "could not be read"), "the warning")
    assert warnings == [
        "Free-S_Code: a change from the editor could not be read (the message is not valid UTF-8 (byte 0xff at "
        f"offset {offset})) in shapes.py. Tasks on shapes.py are paused until you close and reopen it."
    ]
    paused = await run_command(editor.client, fix_args(uri))
    assert paused["applied"] is False and paused["message"].endswith("close and reopen shapes.py to go on"), paused
    assert stub_node.requests() == [] and editor.text(uri) == SOURCE
    editor.close(uri)
    uri = editor.open(path, SOURCE)
    result = await run_command(editor.client, fix_args(uri))
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == FIXED_SOURCE


async def test_an_action_chosen_after_typing_works_on_the_code_it_was_offered_for(
    editor: Editor, stub_node, tmp_path: Path
) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    fix = next(a for a in await code_actions(editor, uri, 5) if a.kind == KINDS["fix"])
    offered_at = editor.version(uri)
    header = "".join(f"# note {n}\n" for n in range(8))
    editor.type(uri, 0, 0, header)
    editor.type(uri, 20, 0, "\n# appended\n")
    await editor.flushed()
    assert editor.version(uri) != offered_at
    result = await editor.perform(fix)
    assert result["applied"] is True, result
    await editor.settled(uri)
    assert editor.text(uri) == header + FIXED_SOURCE + "\n# appended\n"
    assert "def area(radius):" in stub_node.requests()[0]["messages"][-1]["content"]


async def test_a_budget_too_small_for_the_model_is_explained(editor: Editor, gemma_path: Path, tmp_path: Path) -> None:
    await editor.initialize(
        {
            "network": {"mode": "local-only"},
            "local": {"threads": 2, "max_context": 512, "memory_budget_gb": 0.05},
            "server": {"max_tokens": 4, "diagnostics_enabled": False},
        }
    )
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    await run_command(editor.client, {"uri": uri, "task": "analyze", "line": 5})
    told = await until(lambda: shown(editor, "memory_budget_gb"), "the budget message")
    assert len(told) == 1 and told[0].startswith("Free-S_Code: gemma-3-270m needs about ")
    assert "more than [local] memory_budget_gb = 0.05; it runs alone" in told[0]


async def test_positions_past_the_end_get_a_clear_answer(editor: Editor, stub_node, tmp_path: Path) -> None:
    ten_lines = "".join(f"value_{n} = {n}\n" for n in range(10))
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "ten.py", ten_lines)
    actions = await code_actions(editor, uri, 10_000, 10_000)
    assert {action.kind: action.title for action in actions} == ROUTED_TITLES
    fix = next(action for action in actions if action.kind == KINDS["fix"])
    result = await editor.perform(fix)
    assert result == {"applied": False, "message": "line 10001 is past the end of ten.py (10 lines)"}
    result = await run_command(editor.client, {"uri": uri, "task": "clean", "line": 10_000, "endLine": 10_005})
    assert result == {"applied": False, "message": "line 10001 is past the end of ten.py (10 lines)"}
    assert shown(editor, "past the end") == ["Free-S_Code: line 10001 is past the end of ten.py (10 lines)"] * 2
    assert editor.text(uri) == ten_lines and editor.applied == []
    assert stub_node.requests() == []


async def test_commands_on_documents_that_are_not_open(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url))
    missing = (tmp_path / "missing.py").as_uri()
    for task in ("fix", "clean", "refactor", "debug", "analyze"):
        result = await run_command(editor.client, {"uri": missing, "task": task, "line": 0})
        assert result == {"applied": False, "message": f"{missing} is not open in the editor"}, task
    closed = editor.open(tmp_path / "closed.py", SOURCE)
    editor.close(closed)
    result = await run_command(editor.client, fix_args(closed))
    assert result == {"applied": False, "message": f"{closed} is not open in the editor"}
    no_arguments = await editor.client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="freescode.runTask", arguments=[])
    )
    assert no_arguments == {"applied": False, "message": "expected an object with uri, task and line"}
    assert stub_node.requests() == []


AWKWARD_FOLDERS = ["my project", "café", "a^b", "c#d", "100%", "x[1]", "(a)+b;c=d@e", "数据 😀"]
WINDOWS_FILES = ["C:\\Users\\me\\my project\\shapes.py", "D:\\café\\c#d\\shapes.py"]


async def test_files_in_awkward_folders_are_found_under_the_editors_own_uri(editor: Editor, stub_node, tmp_path: Path) -> None:
    """Each editor percent-encodes in its own way; the server finds the document whatever it sent."""
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url))
    files: list[Path | str] = [tmp_path / folder / "shapes.py" for folder in AWKWARD_FOLDERS]
    for path in [*files, *WINDOWS_FILES]:
        uri = editor.open(path, SOURCE)
        actions = await code_actions(editor, uri, 5)
        assert {action.kind: action.title for action in actions} == ROUTED_TITLES
        assert all(action.data["version"] == editor.version(uri) for action in actions), actions
        result = await editor.perform(await fix_action(editor, uri, 5))
        assert result["applied"] is True, (uri, result)
        await until(lambda uri=uri: editor.text(uri) == FIXED_SOURCE, f"the fix in {uri}")
        editor.close(uri)
    assert len(stub_node.requests()) == len(files) + len(WINDOWS_FILES)


@pytest.mark.parametrize("kind", ["crlf", "mixed", "cr"])
@pytest.mark.parametrize("streaming", [True, False])
async def test_rewrites_keep_each_lines_own_ending(editor: Editor, stub_node, tmp_path: Path, kind: str, streaming: bool) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url, streaming=streaming))

    def ended(text: str) -> str:
        if kind == "crlf":
            return text.replace("\n", "\r\n")
        if kind == "cr":
            return text.replace("\n", "\r")
        return text.replace('    """Area of a circle."""\n', '    """Area of a circle."""\r\n')

    uri = editor.open(tmp_path / f"{kind}.py", ended(SOURCE))
    result = await editor.perform(await fix_action(editor, uri, 5))
    assert result is None or result["applied"] is True, result
    await until(lambda: editor.text(uri) == ended(FIXED_SOURCE), "the fix")


async def test_diagnostics_of_awkward_folders_go_to_the_editors_own_uri(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script(
        {
            "default": {
                "chunks": [
                    json.dumps({"bugs": [{"line": 6, "end_line": 6, "severity": "error", "message": "radius is not squared"}]})
                ]
            }
        }
    )
    options = node_options(stub_node.url, diagnostics_enabled=True, diagnostics_idle_s=0, diagnostics_on_save=False)
    await editor.initialize(options)
    broken = editor.open(tmp_path / "my project" / "c#d" / "broken.py", SOURCE.replace("def area(radius):", "def area(radius)"))
    published = await until(lambda: editor.client.diagnostics.get(broken), "the syntax diagnostic")
    assert [d.code for d in published] == ["syntax"], editor.client.diagnostics
    uri = editor.open(tmp_path / "café" / "a^b" / "shapes.py", SOURCE)
    result = await run_command(editor.client, {"uri": uri, "task": "debug", "line": 5, "endLine": 5})
    assert result["findings"] == 1, result
    found = await until(lambda: editor.client.diagnostics.get(uri), "the findings")
    assert [(d.code, d.range.start.line) for d in found] == [("debug", 5)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
async def test_non_ascii_text_ends_exact_in_the_negotiated_encoding(
    editor: Editor, stub_node, tmp_path: Path, encoding: str
) -> None:
    stub_node.set_script({"queue": [streamed(fenced(GREET_FIXED)), streamed(fenced(LAST_FIXED))]})
    result = await editor.initialize(node_options(stub_node.url), position_encodings=[encoding])
    assert result.capabilities.position_encoding == encoding
    uri = editor.open(tmp_path / "greet.py", UNICODE_SOURCE)
    editor.type(uri, 3, units(editor, uri, 3, '    return "héllo 😀'), "ü")
    editor.type(uri, 3, units(editor, uri, 3, '    return "héllo 😀ü" + nam'), "e")
    editor.type(uri, 7, units(editor, uri, 7, '    return "末尾 é 😀" + 1'), "0")
    await editor.flushed()

    fix = await fix_action(editor, uri, 3, units(editor, uri, 3, '    return "héllo 😀'))
    result = await editor.perform(fix)
    assert result["applied"] is True, result
    assert '    return "héllo 😀ü" + name\n' in prompt_of(stub_node.requests()[0])
    await editor.settled(uri)

    result = await run_command(editor.client, fix_args(uri, 7))
    assert result["applied"] is True, result
    assert '    return "末尾 é 😀" + 10\n' in prompt_of(stub_node.requests()[1])
    await editor.settled(uri)
    assert editor.text(uri) == ("# café ☕ — 数据 😀\n" + GREET_FIXED + "\n\n" + LAST_FIXED.removesuffix("\n"))
    assert editor.refused == []


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
async def test_resolve_at_the_end_of_a_file_without_newline(editor: Editor, stub_node, tmp_path: Path, encoding: str) -> None:
    stub_node.set_script({"default": streamed(fenced(LAST_FIXED))})
    await editor.initialize(node_options(stub_node.url, streaming=False), position_encodings=[encoding])
    uri = editor.open(tmp_path / "greet.py", UNICODE_SOURCE)
    fix = await fix_action(editor, uri, 7, units(editor, uri, 7, '    return "末尾 é 😀'))
    resolved = await editor.client.code_action_resolve_async(fix)
    assert resolved.edit is not None and resolved.command is None
    assert editor.apply_workspace_edit(resolved.edit).applied
    expected = UNICODE_SOURCE.replace('    return "末尾 é 😀" + 1', '    return "末尾 é 😀 ✓"')
    assert editor.text(uri) == expected


async def test_a_5mb_file_is_refused_and_the_server_goes_on(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url))
    big = SOURCE + "x = 1\n" * ((5_000_000 - len(SOURCE)) // 6 + 1)
    uri = editor.open(tmp_path / "big.py", big)
    actions = await code_actions(editor, uri, 5)
    assert {action.kind: action.title for action in actions} == ROUTED_TITLES
    fix = next(action for action in actions if action.kind == KINDS["fix"])
    message = "big.py is 5.0 MB, over the 2.0 MB limit ([server] max_file_bytes)"
    assert await editor.perform(fix) == {"applied": False, "message": message}
    assert shown(editor, "over the") == [f"Free-S_Code: {message}"]
    assert editor.text(uri) == big and editor.applied == []

    binary = editor.open(tmp_path / "blob.py", "def f():\n    return 1\n\x00\x01\x02 data\n")
    result = await run_command(editor.client, fix_args(binary, 0))
    assert result == {"applied": False, "message": "blob.py looks like a binary file"}
    assert stub_node.requests() == []

    small = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await run_command(editor.client, fix_args(small))
    assert result["applied"] is True, result
    await editor.settled(small)
    assert editor.text(small) == FIXED_SOURCE
    assert editor.text(uri) == big


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _read_message(stream: Any) -> dict[str, Any]:
    """One Content-Length framed message from a socket file."""
    length = None
    while True:
        header = stream.readline()
        assert header, "the server closed the connection"
        if header in (b"\r\n", b"\n") and length is not None:
            return json.loads(stream.read(length))
        name, _, value = header.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())


def _answer_to(stream: Any, request_id: int) -> dict[str, Any]:
    """Read messages until the response to `request_id`."""
    while True:
        message = _read_message(stream)
        if message.get("id") == request_id and "method" not in message:
            return message


def _connect(port: int, process: subprocess.Popen[bytes]) -> socket.socket:
    """A connection to the server's TCP port, once it listens."""

    def attempt() -> socket.socket | None:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            assert process.poll() is None, process.stderr.read() if process.stderr else process.returncode
            return None

    return wait_for(attempt, "the TCP server to listen")


def test_tcp_transport_initializes_and_exits() -> None:
    script = Path(sys.executable).with_name("freescode-lsp")
    command = [str(script)] if script.exists() else list(SERVER_COMMAND)
    port = free_port()
    process = subprocess.Popen([*command, "--tcp", f"127.0.0.1:{port}"], stderr=subprocess.PIPE)
    try:
        with _connect(port, process) as connection, connection.makefile("rb") as stream:
            init = {"processId": None, "rootUri": None, "capabilities": {}}
            connection.sendall(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init}))
            answer = _answer_to(stream, 1)
            assert "error" not in answer, answer
            capabilities = answer["result"]["capabilities"]
            assert capabilities["codeActionProvider"]["resolveProvider"] is True
            assert sorted(capabilities["codeActionProvider"]["codeActionKinds"]) == sorted(KINDS.values())
            commands = ["freescode.runTask", "freescode.fixVerified", "freescode.applyCandidate"]
            assert capabilities["executeCommandProvider"]["commands"] == commands
            assert answer["result"]["serverInfo"]["name"] == "freescode-lsp"
            connection.sendall(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
            connection.sendall(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
            assert _answer_to(stream, 2) == {"jsonrpc": "2.0", "id": 2, "result": None}
            connection.sendall(_frame({"jsonrpc": "2.0", "method": "exit"}))
            assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


async def test_resolve_with_streaming_off_returns_the_versioned_edit(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url, streaming=False))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    editor.type(uri, 0, 0, "# typed first\n")
    await editor.flushed()
    fix = await fix_action(editor, uri, 6)
    resolved = await editor.client.code_action_resolve_async(fix)
    assert resolved.command is None and resolved.edit is not None
    [change] = resolved.edit.document_changes or []
    assert isinstance(change, types.TextDocumentEdit)
    assert change.text_document.uri == uri and change.text_document.version == editor.version(uri)
    assert editor.apply_workspace_edit(resolved.edit).applied
    assert editor.text(uri) == "# typed first\n" + FIXED_SOURCE
    assert len(stub_node.requests()) == 1


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_fix_chosen_in_the_editor_calls_the_model_once(
    editor: Editor, stub_node, tmp_path: Path, streaming: bool
) -> None:
    stub_node.set_script({"default": streamed(fenced(FIXED))})
    await editor.initialize(node_options(stub_node.url, streaming=streaming))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    fix = await fix_action(editor, uri, 5)
    if streaming:
        assert fix.command is not None
        assert await editor.client.code_action_resolve_async(fix) == fix
        assert stub_node.requests() == []
    else:
        assert fix.command is None and fix.data is not None
    await editor.perform(fix)
    await editor.settled(uri)
    assert editor.text(uri) == FIXED_SOURCE
    assert len(stub_node.requests()) == 1


async def test_listing_does_not_wait_for_a_slow_model(editor: Editor, stub_node, tmp_path: Path) -> None:
    stub_node.set_script({"default": {**streamed(fenced(FIXED)), "hold": True}})
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    command = asyncio.create_task(run_command(editor.client, fix_args(uri)))
    assert await until(lambda: len(stub_node.records()) == 1, "the request to reach the node")
    for n in range(20):
        actions = await asyncio.wait_for(code_actions(editor, uri, n % 11), 30)
        assert {action.kind: action.title for action in actions} == ROUTED_TITLES
    assert [record["outcome"] for record in stub_node.records()] == [None]
    assert not command.done()
    stub_node.release()
    result = await command
    assert result["applied"] is True, result


async def test_fix_on_a_freescode_diagnostic_is_preferred(editor: Editor, stub_node, tmp_path: Path) -> None:
    await editor.initialize(node_options(stub_node.url))
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    ours = types.Diagnostic(
        range=types.Range(types.Position(5, 4), types.Position(5, 29)),
        message="the area needs the radius squared",
        severity=types.DiagnosticSeverity.Warning,
        source="freescode",
    )
    theirs = types.Diagnostic(
        range=types.Range(types.Position(9, 4), types.Position(9, 13)),
        message="something else",
        severity=types.DiagnosticSeverity.Information,
        source="pyright",
    )
    actions = await code_actions(editor, uri, 9, 0, [theirs, ours])
    fix = next(action for action in actions if action.kind == KINDS["fix"])
    assert list(fix.diagnostics or []) == [ours] and fix.is_preferred is True
    assert isinstance(fix.data, dict) and (fix.data["line"], fix.data["endLine"]) == (5, 5)
    for action in actions:
        if action is not fix:
            assert action.diagnostics is None and action.is_preferred is None, action
    plain = await code_actions(editor, uri, 9, 0, [theirs])
    fix = next(action for action in plain if action.kind == KINDS["fix"])
    assert fix.diagnostics is None and fix.is_preferred is None and fix.data["line"] == 9
    assert stub_node.requests() == []


@pytest.mark.slow
async def test_fix_on_the_real_local_model(gemma_path: Path, vscode: LanguageClient, tmp_path: Path) -> None:
    editor = Editor(vscode, "visual-studio-code")
    await editor.initialize(
        {
            "network": {"mode": "local-only"},
            "local": {"threads": 2, "max_context": 2048},
            "server": {"max_tokens": 128, "diagnostics_enabled": False},
        }
    )
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    result = await asyncio.wait_for(run_command(editor.client, fix_args(uri)), 240)
    await editor.settled(uri)
    text = editor.text(uri)
    assert text.startswith(BEFORE_AREA) and text.endswith(AFTER_AREA), text
    assert len(text) > len(BEFORE_AREA) + len(AFTER_AREA)
    finals = await until(lambda: [s for s in editor.statuses if s["state"] in ("done", "failed")], "the final status")
    assert len(finals) == 1, editor.statuses
    assert finals[0]["model"] == "gemma-3-270m" and finals[0]["engine"] == "local", finals[0]
    if result["applied"]:
        assert result["model"] == "gemma-3-270m" and finals[0]["state"] == "done"
    elif result["message"] == "Fix: gemma-3-270m proposed no change; the code is left as it was":
        assert finals[0]["state"] == "failed" and text == SOURCE, (result, finals)
    else:
        assert result["message"] and finals[0]["state"] == "failed" and finals[0]["problem"], (result, finals)
        assert text == SOURCE


def test_a_body_that_is_not_json_gets_a_parse_error_with_a_null_id() -> None:
    """JSON-RPC: a parse error is answered with id null, and the server reads on."""
    import json
    import subprocess

    process = subprocess.Popen(SERVER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None

    def send(body: bytes) -> None:
        process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        process.stdin.flush()

    def read() -> dict:
        length = 0
        while (line := process.stdout.readline().strip()) != b"":
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(process.stdout.read(length))

    try:
        send(b'{"jsonrpc": "2.0", "id": 1, "method": ')
        parse_error = read()
        assert parse_error["id"] is None and parse_error["error"]["code"] == -32700
        send(b"null")
        invalid = read()
        assert invalid["id"] is None and invalid["error"]["code"] == -32600
        send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "initialize", "params": {"capabilities": {}}}).encode())
        answer = read()
        assert answer["id"] == 2 and "capabilities" in answer["result"]
    finally:
        process.kill()
        process.wait(timeout=10)
