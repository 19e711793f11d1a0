"""A cloned repository's freescode.toml cannot send code or spend money until the user trusts the workspace."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from freescode_lsp import trust
from freescode_lsp.config import load_settings
from freescode_lsp.testing.lsp_harness import SOURCE, Editor, run_command

HOSTILE = """[[nodes]]
url = "{url}"
models = ["code-llama-7b", "starcoder2-15b", "deepseek-coder-6.7b", "mistral-7b", "gemma-3-270m"]
[network]
mode = "remote-first"
budget_usd = 1000
[local]
auto_pull = true
[models."code-llama-7b"]
gguf = "/tmp/elsewhere.gguf"
context = 4096
[server]
diagnostics_idle_s = 0.2
"""
GUARDED = ["nodes", "network.mode", "network.budget_usd", "local.auto_pull", "models.code-llama-7b.gguf"]


def hostile_workspace(folder: Path, url: str = "http://127.0.0.1:9") -> Path:
    (folder / "freescode.toml").write_text(HOSTILE.format(url=url))
    (folder / "secrets.py").write_text('DB_PASSWORD = "hunter2"\n\n\ndef area(radius):\n    return 3.14 * radius\n')
    return folder


def test_guarded_keys_are_ignored_until_the_workspace_is_trusted(tmp_path: Path) -> None:
    hostile_workspace(tmp_path)
    loaded = load_settings(tmp_path)
    assert loaded.settings.nodes == [] and loaded.settings.network.mode == "local-first"
    assert loaded.settings.network.budget_usd is None and loaded.settings.local.auto_pull is False
    assert loaded.settings.models["code-llama-7b"].gguf is None
    assert loaded.settings.models["code-llama-7b"].context == 4096 and loaded.settings.server.diagnostics_idle_s == 0.2
    assert sorted(loaded.untrusted) == sorted(GUARDED)
    [notice] = [p for p in loaded.problems if "trust" in p]
    assert "freescode trust" in notice and "nodes" in notice

    assert trust.trust(tmp_path)
    trusted = load_settings(tmp_path)
    assert len(trusted.settings.nodes) == 1 and trusted.settings.network.mode == "remote-first"
    assert trusted.untrusted == [] and not [p for p in trusted.problems if "trust" in p]

    (tmp_path / "freescode.toml").write_text(HOSTILE.format(url="http://127.0.0.1:10"))
    changed = load_settings(tmp_path)
    assert changed.settings.nodes == [], "a changed file must be trusted again"
    assert trust.trust(tmp_path) and trust.forget(tmp_path)
    assert load_settings(tmp_path).settings.nodes == []


def test_the_users_own_config_and_local_only_need_no_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "freescode.toml").write_text('[network]\nmode = "local-only"\n[routing]\nfix = "mistral-7b"\n')
    loaded = load_settings(tmp_path)
    assert loaded.settings.network.mode == "local-only" and loaded.untrusted == [] and loaded.problems == []
    own = tmp_path / "mine.toml"
    own.write_text('[[nodes]]\nurl = "http://127.0.0.1:9"\nmodels = ["mistral-7b"]\n')
    monkeypatch.setenv("FREESCODE_CONFIG", str(own))
    assert len(load_settings(tmp_path).settings.nodes) == 1
    assert len(load_settings(tmp_path, trusted_workspace=True).settings.nodes) == 1


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "freescode_lsp.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        env=os.environ.copy(),
    )


def test_the_cli_sends_nothing_to_an_untrusted_workspaces_node_until_trusted(tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    (tmp_path / "freescode.toml").write_text(
        (tmp_path / "freescode.toml").read_text().replace('mode = "remote-first"', 'mode = "remote-only"')
    )
    refused = run_cli(["run", "analyze", "secrets.py", "--line", "5"], tmp_path)
    assert "freescode trust" in refused.stderr
    assert stub_node.requests() == []
    trusted = run_cli(["trust"], tmp_path)
    assert trusted.returncode == 0 and "trusted" in trusted.stderr
    run_cli(["run", "analyze", "secrets.py", "--line", "5"], tmp_path)
    assert stub_node.requests(), "once trusted, the workspace's node is used"


async def test_the_server_asks_before_a_workspace_may_send_code_away(neovim: LanguageClient, tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(neovim, "neovim")
    asked = editor.questions
    await editor.initialize({"network": {"first_token_timeout_s": 5}}, root=tmp_path)
    uri = editor.open(tmp_path / "secrets.py", (tmp_path / "secrets.py").read_text())
    await asyncio.sleep(3)
    assert stub_node.requests() == [], "idle diagnostics must not send the file to the workspace's node"
    assert len(asked) == 1 and "freescode.toml" in asked[0].message and "trust" in asked[0].message
    assert [a.title for a in asked[0].actions or []] == ["Trust", "Not now"]

    editor.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(1)
    assert len(asked) == 1, "the same file is asked about once"
    assert trust.forget(tmp_path) is False, "declining records nothing"
    await run_command(editor.client, {"uri": uri, "task": "analyze", "line": 4, "endLine": 4})
    assert stub_node.requests() == []


async def test_a_trusted_answer_applies_the_workspace_settings_at_once(neovim: LanguageClient, tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(neovim, "neovim")
    editor.answer = "Trust"
    await editor.initialize({"server": {"diagnostics_enabled": False}}, root=tmp_path)
    uri = editor.open(tmp_path / "area.py", SOURCE)
    for _ in range(50):
        if trust.is_trusted(tmp_path):
            break
        await asyncio.sleep(0.1)
    assert trust.is_trusted(tmp_path)
    await asyncio.sleep(0.3)
    await run_command(editor.client, {"uri": uri, "task": "analyze", "line": 5, "endLine": 5})
    assert stub_node.requests(), "after Trust, the workspace's node serves the task"
