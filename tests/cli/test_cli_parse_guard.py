"""`freescode run fix --apply` never writes an answer that leaves a file that parsed unparsable, and says why."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from freescode_lsp.config import trust
from freescode_lsp.testing.cli_runner import run_cli

PYTHON_SOURCE = '''"""Greetings."""


def greet(name):
    return "Hello, " + nam


def farewell(name):
    return "Bye, " + name
'''
PYTHON_BROKEN = 'def greet(name):\n    return "Hello, + name\n'
PYTHON_FIXED = 'def greet(name):\n    return "Hello, " + name\n'

JS_SOURCE = """function greet(name) {
  return "Hello, " + nam;
}

module.exports = { greet };
"""
JS_BROKEN = 'function greet(name) {\n  return "Hello, + name;\n}\n'
JS_FIXED = 'function greet(name) {\n  return "Hello, " + name;\n}\n'


def workspace_file(folder: Path, name: str, text: str, node_url: str) -> Path:
    """The file in a workspace whose trusted freescode.toml sends fix to the stub node only."""
    (folder / "freescode.toml").write_text(
        f'[network]\nmode = "remote-only"\n[[nodes]]\nurl = "{node_url}/v1"\nmodels = ["code-llama-7b"]\n'
    )
    assert trust.trust(folder)
    path = folder / name
    path.write_text(text)
    return path


def answer(code: str, language: str) -> list[str]:
    text = f"Here you go:\n\n```{language}\n{code}```\n"
    return [text[i : i + 6] for i in range(0, len(text), 6)]


def test_an_unterminated_string_is_not_written_and_the_user_is_told_where(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": {"chunks": answer(PYTHON_BROKEN, "python")}})
    path = workspace_file(tmp_path, "greet.py", PYTHON_SOURCE, stub_node.url)
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert path.read_text() == PYTHON_SOURCE
    last = result.stderr.strip().splitlines()[-1]
    assert "would leave the file unparsable (line 5: unterminated string literal" in last, result.stderr
    assert last.endswith("so it is not applied")
    assert "applied to" not in result.stderr


def test_a_file_that_did_not_parse_before_is_still_fixed(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": {"chunks": answer(PYTHON_FIXED, "python")}})
    source = PYTHON_SOURCE.replace('"Bye, " + name', '"Bye, + name')
    path = workspace_file(tmp_path, "greet.py", source, stub_node.url)
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert path.read_text() == source.replace("+ nam\n", "+ name\n")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize(("code", "written"), [(JS_BROKEN, False), (JS_FIXED, True)])
def test_javascript_is_checked_with_node(tmp_path: Path, stub_node, code: str, written: bool) -> None:
    stub_node.set_script({"default": {"chunks": answer(code, "javascript")}})
    path = workspace_file(tmp_path, "greet.js", JS_SOURCE, stub_node.url)
    result = run_cli("run", "fix", str(path), "--line", "2", "--apply", cwd=tmp_path)
    if written:
        assert result.returncode == 0, result.stderr
        assert path.read_text() == JS_SOURCE.replace("+ nam;", "+ name;")
    else:
        assert result.returncode == 1 and path.read_text() == JS_SOURCE
        assert "would leave the file unparsable (line 2: SyntaxError: Invalid or unexpected token)" in result.stderr
