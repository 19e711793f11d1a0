"""Property tests: generated hostile TOML, settings and URIs never raise past load_settings, the CLI or the server."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from freescode_lsp.cli import main as cli_main
from freescode_lsp.config import load_settings
from freescode_lsp.testing.lsp_harness import Editor, neovim_uri, vscode_uri
from freescode_lsp.testing.samples import SOURCE

KEYS = {
    "": ["routing", "models", "local", "nodes", "network", "server"],
    "local": ["memory_budget_gb", "threads", "idle_unload_s", "max_context", "models_dir", "auto_pull"],
    "network": ["mode", "registry", "max_price_per_1k", "budget_usd", "total_timeout_s", "connect_timeout_s"],
    "server": ["streaming", "max_tokens", "max_file_bytes", "diagnostics_idle_s", "hover_timeout_s"],
    "node": ["url", "models", "api_key", "price_per_1k", "context", "name"],
    "model": ["gguf", "hf", "context", "price_per_1k", "prompt_style", "fallback", "memory_gb", "threads"],
}
ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "abc",
        "code-llama-7b",
        "http://127.0.0.1:99999",
        "http://[::1",
        "http://h\t:1",
        "ftp://x",
        "x" * 5000,
        "/dev/zero",
        "a\x00b",
        "é😀",
        "local-first",
        "owner/repo:f.gguf",
        "~nobody-here/x.gguf",
    ]
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 4, 100_000, 2**63, -1, math.inf, -math.inf, math.nan, 1e308]),
)
SCALARS = st.one_of(st.booleans(), NUMBERS, ODD_TEXT, st.text(max_size=40))


def values(depth: int = 3) -> st.SearchStrategy[Any]:
    """Scalars, lists and tables, nested a few levels."""
    return st.recursive(
        SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.one_of(st.sampled_from(sum(KEYS.values(), [])), st.text(max_size=8)), inner, max_size=4),
        ),
        max_leaves=12,
    )


def section(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """A table with mostly known keys of one section, given any values."""
    return st.dictionaries(st.one_of(st.sampled_from(KEYS[kind]), st.text(max_size=6)), values(), max_size=5)


SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "local": st.one_of(section("local"), values()),
        "network": st.one_of(section("network"), values()),
        "server": st.one_of(section("server"), values()),
        "nodes": st.one_of(st.lists(st.one_of(section("node"), values()), max_size=3), values()),
        "models": st.one_of(st.dictionaries(st.text(max_size=12), st.one_of(section("model"), values()), max_size=3), values()),
        "routing": st.one_of(st.dictionaries(st.text(max_size=10), st.one_of(ODD_TEXT, values()), max_size=3), values()),
    },
)


def toml_value(value: Any) -> str:
    """A TOML literal for a JSON-like value (inline tables and arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**63 else json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    pairs = (f"{json.dumps(str(k), ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"


def toml_document(data: dict[str, Any]) -> str:
    """The settings as a TOML document of top-level keys."""
    return "".join(f"{json.dumps(key)} = {toml_value(value)}\n" for key, value in data.items())


DOCUMENTS = st.one_of(
    SETTINGS.map(toml_document),
    st.text(max_size=200).map(lambda text: "[local]\n" + text),
    st.integers(min_value=30, max_value=3000).map(lambda n: "a = " + "[" * n + "]" * n + "\n"),
    st.integers(min_value=30, max_value=3000).map(lambda n: "a = " + "{b = " * n + "1" + "}" * n + "\n"),
)


def check_loaded(loaded: Any) -> None:
    """Problems are plain, bounded strings; the settings are typed and in range."""
    assert all(isinstance(problem, str) and len(problem) < 2000 for problem in loaded.problems), loaded.problems
    local = loaded.settings.local
    assert math.isfinite(local.memory_budget_gb) and 1 <= local.threads <= 256
    for node in loaded.settings.nodes:
        assert isinstance(node.models, list) and all(isinstance(model, str) for model in node.models)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=DOCUMENTS, editor=st.one_of(st.none(), SETTINGS, values()))
def test_load_settings_never_raises(tmp_path: Path, document: str, editor: Any) -> None:
    (tmp_path / "freescode.toml").write_text(document, encoding="utf-8", errors="surrogatepass")
    check_loaded(load_settings(tmp_path, editor))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=DOCUMENTS, line=st.integers(min_value=-2, max_value=20))
def test_the_cli_never_raises(tmp_path: Path, stub_node, capsys: pytest.CaptureFixture[str], document: str, line: int) -> None:
    stub_node.set_script({"default": {"chunks": ["```python\ndef f():\n    return 2\n```\n"]}})
    forced = tmp_path / "forced.toml"
    forced.write_text(f'[network]\nmode = "remote-only"\n[[nodes]]\nurl = "{stub_node.url}"\nmodels = ["gemma-3-270m"]\n')
    (tmp_path / "freescode.toml").write_text(document, encoding="utf-8", errors="surrogatepass")
    target = tmp_path / "f.py"
    target.write_text("def f():\n    return 1\n")
    os.environ["FREESCODE_CONFIG"] = str(forced)
    try:
        code = cli_main(["run", "fix", str(target), "--line", str(line), "--quiet", "--allow-fallback"])
    finally:
        del os.environ["FREESCODE_CONFIG"]
    captured = capsys.readouterr()
    assert code in (0, 1, 2, 3), captured.err
    assert "Traceback" not in captured.err and "internal error" not in captured.err, captured.err


FOLDER_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1, max_size=12
).filter(lambda name: name not in (".", ".."))
RAW_URIS = st.one_of(
    st.text(max_size=60),
    st.builds(lambda s: "file:///" + s, st.text(max_size=40)),
    st.sampled_from(["file://", "file:///c%3A/", "file:///%", "file:///%zz/a.py", "untitled:Untitled-1", "file:///a b#c?d"]),
)


def options(url: str) -> dict[str, Any]:
    return {
        "nodes": [{"url": url, "models": ["code-llama-7b", "mistral-7b", "wizardcoder-python-34b", "starcoder2-15b"]}],
        "network": {"mode": "remote-only"},
        "server": {"diagnostics_enabled": False},
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    folders=st.lists(FOLDER_NAMES, min_size=1, max_size=3),
    windows=st.booleans(),
    raw=RAW_URIS,
    pushed=st.one_of(st.none(), SETTINGS, values()),
)
async def test_the_server_answers_every_uri_and_setting(
    editor: Editor, stub_node, tmp_path: Path, folders: list[str], windows: bool, raw: str, pushed: Any
) -> None:
    if not getattr(editor, "started", False):
        stub_node.set_script({"default": {"chunks": ["```python\n", SOURCE.split("\n\n\n")[1], "\n```\n"]}})
        await editor.initialize(options(stub_node.url))
        editor.started = True  # type: ignore[attr-defined]
    if pushed is not None:
        mixed = {**pushed, **options(stub_node.url)} if isinstance(pushed, dict) else pushed
        change = types.DidChangeConfigurationParams(settings={"freescode": mixed})
        editor.client.workspace_did_change_configuration(change)
    base = "C:\\\\" + "\\\\".join(folders) + "\\\\f.py" if windows else str(tmp_path.joinpath(*folders, "f.py"))
    uri = editor.open(base, SOURCE)
    assert uri in (vscode_uri(base), neovim_uri(base))
    position = types.Position(5, 0)
    for target in (uri, raw):
        where = types.Range(position, position)
        actions = await editor.client.text_document_code_action_async(
            types.CodeActionParams(types.TextDocumentIdentifier(target), where, types.CodeActionContext([]))
        )
        assert actions is not None
        result = await editor.client.workspace_execute_command_async(
            types.ExecuteCommandParams("freescode.runTask", [{"uri": target, "task": "clean", "line": 5}])
        )
        assert isinstance(result, dict) and "applied" in result, result
    editor.close(uri)
    assert not [m.message for m in editor.client.messages if "Error in server" in m.message]
    assert all(len(m.message) < 20_000 for m in editor.client.messages)
