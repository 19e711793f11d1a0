"""A cloned repository's freescode.toml cannot send code or spend money until the user trusts exactly its content."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from freescode_lsp.config import load_settings, trust
from freescode_lsp.testing.cli_runner import run_cli
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.samples import SOURCE
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.testing.waiting import until

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
GUARDED = ["nodes", "network.mode", "network.budget_usd", "local.auto_pull", 'models."code-llama-7b".gguf']
ANALYZE = {"task": "analyze", "line": 4, "endLine": 4}
REMOTE_ONLY = {"server": {"diagnostics_enabled": False}, "network": {"mode": "remote-only"}}  # the user's own choice


def hostile_workspace(folder: Path, url: str = "http://127.0.0.1:9") -> Path:
    (folder / "freescode.toml").write_text(HOSTILE.format(url=url))
    (folder / "secrets.py").write_text('DB_PASSWORD = "hunter2"\n\n\ndef area(radius):\n    return 3.14 * radius\n')
    return folder


def idle_check_logged(editor: Editor) -> bool:
    """Whether the server logged how a debug run (the idle check) ended."""
    return any(m.message.startswith("Free-S_Code debug:") for m in editor.client.log_messages)


def trusted_logged(editor: Editor) -> bool:
    """Whether the server logged the trust it records just before it reads the settings again, in the same step."""
    return any(" trusted " in m.message and "content shown" in m.message for m in editor.client.log_messages)


@pytest.fixture
def other_node() -> Iterator[StubNode]:
    """A second stub node: the one a swapped or changed freescode.toml names."""
    node = start_stub_node()
    yield node
    node.stop()


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


def test_the_notice_names_every_ignored_key_with_the_value_it_would_set(tmp_path: Path) -> None:
    hostile_workspace(tmp_path)
    with (tmp_path / "freescode.toml").open("a") as config:
        config.write('[models."qwen2.5-coder-1.5b"]\nhf = "evil/repo:x.gguf"\n')
        config.write('[models."mistral-7b"]\ngguf = "/tmp/other.gguf"\n')
    loaded = load_settings(tmp_path)
    [notice] = [p for p in loaded.problems if "trust" in p]
    expected = [
        'nodes = ["http://127.0.0.1:9"]',
        'network.mode = "remote-first"',
        "network.budget_usd = 1000",
        "local.auto_pull = true",
        'models."code-llama-7b".gguf = "/tmp/elsewhere.gguf"',
        'models."qwen2.5-coder-1.5b".hf = "evil/repo:x.gguf"',
        'models."mistral-7b".gguf = "/tmp/other.gguf"',
    ]
    for words in expected:
        assert words in notice, (words, notice)
    assert "more" not in notice


def test_a_model_id_with_dots_cannot_bring_its_own_file(tmp_path: Path) -> None:
    (tmp_path / "freescode.toml").write_text('[models."qwen2.5-coder-1.5b"]\nhf = "evil/repo:x.gguf"\ngguf = "/tmp/x.gguf"\n')
    loaded = load_settings(tmp_path)
    model = loaded.settings.models["qwen2.5-coder-1.5b"]
    assert model.hf is None and model.gguf is None
    assert sorted(loaded.untrusted) == ['models."qwen2.5-coder-1.5b".gguf', 'models."qwen2.5-coder-1.5b".hf']


def test_trust_is_for_the_content_that_was_read(tmp_path: Path) -> None:
    hostile_workspace(tmp_path)
    shown = load_settings(tmp_path).waiting
    assert shown is not None
    (tmp_path / "freescode.toml").write_text(HOSTILE.format(url="http://127.0.0.1:10"))
    assert trust.trust(tmp_path, shown.digest)
    swapped = load_settings(tmp_path)
    assert swapped.settings.nodes == [] and swapped.waiting is not None and swapped.waiting.digest != shown.digest
    (tmp_path / "freescode.toml").write_text(HOSTILE.format(url="http://127.0.0.1:9"))
    assert len(load_settings(tmp_path).settings.nodes) == 1, "the content shown is trusted"


def test_the_users_own_config_and_local_only_need_no_trust(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "freescode.toml").write_text('[network]\nmode = "local-only"\n[routing]\nfix = "mistral-7b"\n')
    loaded = load_settings(tmp_path)
    assert loaded.settings.network.mode == "local-only" and loaded.untrusted == [] and loaded.problems == []
    own = tmp_path / "mine.toml"
    own.write_text('[[nodes]]\nurl = "http://127.0.0.1:9"\nmodels = ["mistral-7b"]\n')
    monkeypatch.setenv("FREESCODE_CONFIG", str(own))
    assert len(load_settings(tmp_path).settings.nodes) == 1
    assert len(load_settings(tmp_path, trusted_workspace=True).settings.nodes) == 1


@pytest.mark.parametrize("named", ["absolute", "relative"])
def test_freescode_config_naming_the_workspace_file_is_the_users_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    hostile_workspace(tmp_path)
    config = tmp_path / "freescode.toml"
    config.write_text(config.read_text().replace('mode = "remote-first"', 'mode = "remote-only"'))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FREESCODE_CONFIG", str(config) if named == "absolute" else "freescode.toml")
    loaded = load_settings(tmp_path)
    assert loaded.settings.network.mode == "remote-only" and len(loaded.settings.nodes) == 1
    assert loaded.settings.local.auto_pull is True and loaded.settings.models["code-llama-7b"].gguf == "/tmp/elsewhere.gguf"
    assert loaded.untrusted == [] and loaded.waiting is None and loaded.problems == []
    assert len(loaded.sources) == 1, f"the file is read once, as the user's: {loaded.sources}"


@pytest.mark.slow  # untrusted, the workspace's mode is ignored: the task runs on the embedded model meanwhile
def test_the_cli_sends_nothing_to_an_untrusted_workspaces_node_until_trusted(tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    (tmp_path / "freescode.toml").write_text(
        (tmp_path / "freescode.toml").read_text().replace('mode = "remote-first"', 'mode = "remote-only"')
    )
    refused = run_cli("run", "analyze", "secrets.py", "--line", "5", cwd=tmp_path)
    assert "freescode trust" in refused.stderr and 'network.mode = "remote-only"' in refused.stderr
    assert 'meanwhile network.mode is "local-first"' in refused.stderr
    assert stub_node.requests() == []
    trusted = run_cli("trust", cwd=tmp_path)
    assert trusted.returncode == 0 and "trusted" in trusted.stderr and stub_node.url in trusted.stderr
    run_cli("run", "analyze", "secrets.py", "--line", "5", cwd=tmp_path)
    assert stub_node.requests(), "once trusted, the workspace's node is used"


def test_trust_without_a_folder_never_trusts_a_parents_file_unasked(tmp_path: Path) -> None:
    hostile_workspace(tmp_path)
    repository = tmp_path / "clone"
    (repository / ".git").mkdir(parents=True)
    refused = run_cli("trust", cwd=repository)
    assert refused.returncode == 1, refused.stderr
    assert str(tmp_path / "freescode.toml") in refused.stderr and f"freescode trust {tmp_path}" in refused.stderr
    assert not trust.is_trusted(tmp_path) and not trust.is_trusted(repository)

    declined = run_in_terminal(["trust"], repository, "n\n")
    assert declined.returncode == 1 and "nodes" in declined.stderr and not trust.is_trusted(tmp_path)
    agreed = run_in_terminal(["trust"], repository, "y\n")
    assert agreed.returncode == 0, agreed.stderr
    assert trust.is_trusted(tmp_path)


def run_in_terminal(args: list[str], cwd: Path, typed: str) -> subprocess.CompletedProcess[str]:
    """The CLI with a terminal on stdin, where the user types `typed`."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, typed.encode())
        return run_cli(*args, cwd=cwd, stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)


async def test_the_server_asks_before_a_workspace_may_send_code_away(neovim: LanguageClient, tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(neovim, "neovim")
    asked = editor.questions
    await editor.initialize({"network": {"mode": "remote-only", "first_token_timeout_s": 5}}, root=tmp_path)
    uri = editor.open(tmp_path / "secrets.py", (tmp_path / "secrets.py").read_text())
    await until(lambda: idle_check_logged(editor), "the idle check to run on the user's own settings")
    assert stub_node.requests() == [], "idle diagnostics must not send the file to the workspace's node"
    assert len(asked) == 1 and "freescode.toml" in asked[0].message and "trust" in asked[0].message
    assert stub_node.url in asked[0].message, "the question shows where the code would go"
    assert [a.title for a in asked[0].actions or []] == ["Trust", "Not now"]

    editor.client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(1)
    assert len(asked) == 1, "the same file is asked about once"
    assert trust.forget(tmp_path) is False, "declining records nothing"
    await run_command(editor.client, {"uri": uri, **ANALYZE})
    assert stub_node.requests() == []


async def test_a_trusted_answer_applies_the_workspace_settings_at_once(neovim: LanguageClient, tmp_path: Path, stub_node) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(neovim, "neovim")
    editor.answer = "Trust"
    await editor.initialize({"server": {"diagnostics_enabled": False}}, root=tmp_path)
    uri = editor.open(tmp_path / "area.py", SOURCE)
    await until(lambda: trusted_logged(editor), "the server to say it trusted the file and took its settings")
    assert trust.is_trusted(tmp_path)
    await run_command(editor.client, {"uri": uri, "task": "analyze", "line": 5, "endLine": 5})
    assert stub_node.requests(), "after Trust, the workspace's node serves the task"


async def test_trust_goes_to_the_file_shown_not_to_one_swapped_in_while_asking(
    neovim: LanguageClient, tmp_path: Path, stub_node, other_node: StubNode
) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(neovim, "neovim")

    def swap_then_trust(question: types.ShowMessageRequestParams) -> str | None:
        if len(editor.questions) > 1:
            return "Not now"
        (tmp_path / "freescode.toml").write_text(HOSTILE.format(url=other_node.url))
        return "Trust"

    editor.answer = swap_then_trust
    await editor.initialize(REMOTE_ONLY, root=tmp_path)
    uri = editor.open(tmp_path / "secrets.py", (tmp_path / "secrets.py").read_text())
    questions = await until(lambda: editor.questions[1:], "the question about the swapped-in file")
    await run_command(editor.client, {"uri": uri, **ANALYZE})
    assert other_node.requests() == [] and stub_node.requests() == [], "Trust was not given to the file swapped in"
    assert questions, "the swapped-in file is asked about in turn"
    assert stub_node.url in editor.questions[0].message and other_node.url in questions[0].message

    restarted = load_settings(tmp_path)
    assert restarted.settings.nodes == [] and not trust.is_trusted(tmp_path), "a restart does not trust the swapped file"


async def test_an_editors_word_that_the_workspace_is_trusted_does_not_skip_the_question(
    vscode: LanguageClient, tmp_path: Path, stub_node
) -> None:
    hostile_workspace(tmp_path, stub_node.url)
    editor = Editor(vscode, "visual-studio-code")
    options = {"freescode": REMOTE_ONLY, "workspaceTrusted": True}
    await editor.initialize(options, root=tmp_path)
    uri = editor.open(tmp_path / "secrets.py", (tmp_path / "secrets.py").read_text())
    await until(lambda: editor.questions, "the server to ask the user itself")
    await run_command(editor.client, {"uri": uri, **ANALYZE})
    assert stub_node.requests() == []


async def test_a_trusted_file_that_changes_while_the_server_runs_is_asked_about_again(
    vscode: LanguageClient, tmp_path: Path, stub_node, other_node: StubNode
) -> None:
    """VS Code's extension reports freescode.toml changes; this client has no settings to pull, so only the
    change event can make the server read the file again."""
    hostile_workspace(tmp_path, stub_node.url)
    assert trust.trust(tmp_path)
    editor = Editor(vscode, "visual-studio-code")
    capabilities = editor.capabilities()
    capabilities.workspace = attrs.evolve(capabilities.workspace, configuration=False)
    await vscode.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=tmp_path.as_uri(),
            initialization_options=REMOTE_ONLY,
        )
    )
    uri = editor.open(tmp_path / "secrets.py", (tmp_path / "secrets.py").read_text())
    await run_command(editor.client, {"uri": uri, **ANALYZE})
    assert stub_node.requests() and editor.questions == [], "the trusted content applies without a question"

    config = tmp_path / "freescode.toml"
    config.write_text(HOSTILE.format(url=other_node.url))
    event = types.FileEvent(uri=editor.uri_for(config), type=types.FileChangeType.Changed)
    editor.client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[event]))
    questions = await until(lambda: editor.questions, "the question about the changed file")
    assert questions and other_node.url in questions[0].message
    await run_command(editor.client, {"uri": uri, **ANALYZE})
    assert other_node.requests() == []
