"""`freescode run` end to end as a real process, on a stub node (exact answers) and on the real gemma model."""

from __future__ import annotations

from pathlib import Path

import pytest

from freescode_lsp.config import settings_from_dict, trust
from freescode_lsp.mesh import get_model_response, model_registry  # noqa: F401 - the brief's import path
from freescode_lsp.mesh.api import ModelRegistry
from freescode_lsp.testing.answers import fenced, pieces
from freescode_lsp.testing.cli_runner import run_cli
from freescode_lsp.testing.samples import GCD

BUGGY = '''"""Stats."""


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values) + 1


def spread(values):
    return max(values) - min(values)
'''
FIXED_FUNCTION = """def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values)
"""


def workspace(tmp_path: Path, config: str = "") -> Path:
    """stats.py in a workspace whose freescode.toml (if any) the user has trusted."""
    (tmp_path / "stats.py").write_text(BUGGY)
    if config:
        trusted_config(tmp_path, config)
    return tmp_path / "stats.py"


def trusted_config(folder: Path, config: str) -> None:
    """A freescode.toml the user has trusted with `freescode trust`."""
    (folder / "freescode.toml").write_text(config)
    assert trust.trust(folder)


def node_config(url: str, models: list[str]) -> str:
    listed = ", ".join(f'"{m}"' for m in models)
    return f'[network]\nmode = "remote-first"\n[[nodes]]\nurl = "{url}/v1"\nmodels = [{listed}]\n'


def answered(code: str) -> list[str]:
    """Stub chunks of an answer that wraps the fenced code in prose."""
    return pieces(f"Here is the fixed function:\n\n{fenced(code)}The bug was the + 1.", 7)


def test_fix_streams_and_applies_the_exact_answer(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": {"chunks": answered(FIXED_FUNCTION)}})
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    result = run_cli("run", "fix", str(path), "--line", "6", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert path.read_text() == BUGGY.replace("    return total / len(values) + 1\n", "    return total / len(values)\n")
    assert "-    return total / len(values) + 1" in result.stdout and "+    return total / len(values)" in result.stdout
    assert "Here is the fixed function" in result.stderr
    assert f"code-llama-7b (node:{stub_node.url}" in result.stderr
    [request] = stub_node.requests()
    assert request["model"] == "code-llama-7b" and "def average(values):" in request["messages"][-1]["content"]
    assert "def spread" not in request["messages"][-1]["content"]  # the file around a rewrite is left out


def test_a_fragment_goes_through_the_fix_helper(tmp_path: Path, stub_node) -> None:
    stub_node.set_script(
        {
            "by_model": {
                "code-llama-7b": {"chunks": ["```python\n    return total / len(values)\n```\n"]},
                "wizardcoder-13b": {"chunks": answered(FIXED_FUNCTION)},
            }
        }
    )
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b", "wizardcoder-13b"]))
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [r["model"] for r in stub_node.requests()] == ["code-llama-7b", "wizardcoder-13b"]
    assert "return total / len(values)\n" in path.read_text() and "+ 1" not in path.read_text()


def test_debug_prints_findings_at_file_lines(tmp_path: Path, stub_node) -> None:
    answer = '{"bugs": [{"line": 8, "end_line": 8, "severity": "error", "message": "adds 1 to the mean"}]}'
    stub_node.set_script({"default": {"chunks": [answer[:20], answer[20:]]}})
    path = workspace(tmp_path, node_config(stub_node.url, ["starcoder2-15b"]))
    result = run_cli("run", "debug", str(path), "--line", "5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{path}:8: error: adds 1 to the mean" in result.stdout
    assert stub_node.requests()[0]["response_format"]["type"] in ("json_schema", "json_object")


def test_bad_input_gives_clear_messages(tmp_path: Path) -> None:
    path = workspace(tmp_path, '[network]\nmode = "remote-only"\n')
    out_of_range = run_cli("run", "fix", str(path), "--line", "99", cwd=tmp_path)
    assert out_of_range.returncode == 2 and "--line 99 is outside" in out_of_range.stderr
    binary = tmp_path / "blob.py"
    binary.write_bytes(b"\x00\x01\x02")
    assert "binary" in run_cli("run", "fix", str(binary), "--line", "1", cwd=tmp_path).stderr
    nothing = run_cli("run", "fix", str(path), "--line", "5", cwd=tmp_path)
    assert nothing.returncode == 1
    assert "no model could answer for code-llama-7b" in nothing.stderr
    assert "gemma-3-270m: no node serves it (mode is remote-only)" in nothing.stderr
    assert path.read_text() == BUGGY


def test_fix_on_the_real_embedded_model(tmp_path: Path, gemma_path: Path) -> None:
    path = workspace(tmp_path, "[local]\nthreads = 2\nmax_context = 2048\n[server]\nmax_tokens = 160\n")
    result = run_cli("run", "fix", str(path), "--line", "5", cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert "gemma-3-270m (local), asked for code-llama-7b" in result.stderr
    assert "code-llama-7b: not on disk" in result.stderr
    assert "llama_" not in result.stderr and "load_tensors" not in result.stderr, result.stderr
    if result.returncode == 0:
        said = result.stdout
        assert said.startswith(f"--- a/{path}") or "proposes no change" in said or "no real change" in said
    assert path.read_text() == BUGGY


async def test_python_api_falls_back_to_the_embedded_model(gemma_path: Path) -> None:
    settings = settings_from_dict({"local": {"threads": 2, "max_context": 1024}}).settings
    text = await get_model_response(
        model_name="code-llama-7b", prompt="def fibonacci(n):", task_type="python", max_tokens=16, settings=settings
    )
    assert isinstance(text, str) and text.strip()


def test_model_registry_lists_hosts(stub_node) -> None:
    settings = settings_from_dict(
        {"nodes": [{"url": stub_node.url, "models": ["code-llama-7b"], "price_per_1k": 0.001}]}
    ).settings
    registry = ModelRegistry(settings)
    info = registry.get_model_info("code-llama-7b")
    assert [host["price_per_1k"] for host in info["available_hosts"] if host["url"] != "local"] == [0.001]
    assert info["fallback"][-1] == "gemma-3-270m"
    assert set(registry.get_model_info()) >= {"code-llama-7b", "gemma-3-270m", "mistral-7b"}
    with pytest.raises(KeyError):
        registry.get_model_info("nope")


def crlf_case(kind: str) -> tuple[bytes, bytes]:
    """BUGGY with the given line endings, and the exact bytes expected after the fix is applied."""
    fixed = BUGGY.replace("    return total / len(values) + 1\n", "    return total / len(values)\n")
    if kind == "crlf":
        return BUGGY.replace("\n", "\r\n").encode(), fixed.replace("\n", "\r\n").encode()
    if kind == "cr":
        return BUGGY.replace("\n", "\r").encode(), fixed.replace("\n", "\r").encode()
    mixed = BUGGY.replace("    total = 0\n", "    total = 0\r\n")
    return mixed.encode(), fixed.replace("    total = 0\n", "    total = 0\r\n").encode()


@pytest.mark.parametrize("kind", ["crlf", "mixed", "cr"])
def test_apply_keeps_each_lines_own_ending(tmp_path: Path, stub_node, kind: str) -> None:
    stub_node.set_script({"default": {"chunks": answered(FIXED_FUNCTION)}})
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    before, expected = crlf_case(kind)
    path.write_bytes(before)
    result = run_cli("run", "fix", str(path), "--line", "6", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "changed while the model was working" not in result.stderr
    assert path.read_bytes() == expected


def test_config_at_the_project_root_applies_to_files_in_subfolders(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": {"chunks": answered(FIXED_FUNCTION)}})
    trusted_config(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    path = tmp_path / "pkg" / "sub" / "stats.py"
    path.write_text(BUGGY)
    result = run_cli("run", "fix", str(path), "--line", "6", "--verbose", cwd=tmp_path / "pkg")
    assert result.returncode == 0, result.stderr
    assert f"config files read: {tmp_path / 'freescode.toml'}" in result.stderr
    assert [r["model"] for r in stub_node.requests()] == ["code-llama-7b"]


def test_a_cut_off_answer_names_the_limit_that_applied(tmp_path: Path, stub_node) -> None:
    unit = "".join(BUGGY.splitlines(keepends=True)[3:8])
    budget = 2 * len(unit.encode()) + 128
    cut = {"chunks": answered(FIXED_FUNCTION * 6), "finish_reason": "length"}
    stub_node.set_script(
        {
            "queue": [
                {**cut, "usage": {"prompt_tokens": 90, "completion_tokens": budget}},
                {**cut, "usage": {"prompt_tokens": 90, "completion_tokens": 100}},
                {**cut, "usage": {"prompt_tokens": 90, "completion_tokens": 40}},
            ]
        }
    )
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    result = run_cli("run", "fix", str(path), "--line", "6", cwd=tmp_path)
    assert result.returncode == 1
    assert stub_node.requests()[0]["max_tokens"] == budget
    assert f"token limit of {budget} tokens, this code's answer budget" in result.stderr, result.stderr
    assert "([server] max_tokens)" not in result.stderr
    capped = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]) + "[server]\nmax_tokens = 100\n")
    again = run_cli("run", "fix", str(capped), "--line", "6", cwd=tmp_path)
    assert "token limit of 100 tokens set by [server] max_tokens; raise [server] max_tokens" in again.stderr
    window = run_cli("run", "fix", str(capped), "--line", "6", cwd=tmp_path)
    assert "token limit of its context window after 40 tokens" in window.stderr, window.stderr
    assert path.read_text() == BUGGY


def test_a_whitespace_only_rewrite_is_not_applied(tmp_path: Path, stub_node) -> None:
    same = BUGGY.splitlines(keepends=True)[3:8]
    answer = "".join(same[:2]) + "\n" + "".join(line.rstrip("\n") + "   \n" for line in same[2:])
    stub_node.set_script({"default": {"chunks": answered(answer)}})
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    result = run_cli("run", "fix", str(path), "--line", "6", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no real change" in result.stdout and "applied" not in result.stderr.replace("not applied", "")
    assert path.read_text() == BUGGY


def test_line_on_the_blank_after_a_function_picks_that_function(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": {"chunks": answered(GCD.split("\n\n\n")[0] + "\n")}})
    trusted_config(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    path = tmp_path / "gcd.py"
    path.write_text(GCD)
    result = run_cli("run", "fix", str(path), "--line", "6", cwd=tmp_path)
    assert f"fix on {path}:1-5 (function gcd) with code-llama-7b" in result.stderr, result.stderr
    docstring = run_cli("run", "fix", str(path), "--line", "9", cwd=tmp_path)
    assert docstring.returncode == 2 and "is in a docstring" in docstring.stderr
    assert len(stub_node.requests()) == 2  # the first run's unchanged answer is asked once more


def test_apply_refuses_an_answer_from_a_fallback_model_unless_allowed(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"models": ["gemma-3-270m"], "default": {"chunks": answered(FIXED_FUNCTION)}})
    config = node_config(stub_node.url, ["gemma-3-270m"]).replace("remote-first", "remote-only")
    path = workspace(tmp_path, config)
    refused = run_cli("run", "fix", str(path), "--line", "6", "--apply", cwd=tmp_path)
    assert refused.returncode == 3, refused.stderr
    assert path.read_text() == BUGGY
    last = refused.stderr.strip().splitlines()[-1]
    assert "not applied: gemma-3-270m answered instead of code-llama-7b" in last and "--allow-fallback" in last
    assert "note: gemma-3-270m answered instead of code-llama-7b" in refused.stderr
    allowed = run_cli("run", "fix", str(path), "--line", "6", "--apply", "--allow-fallback", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip().splitlines()[-1].endswith("(gemma-3-270m answered instead of code-llama-7b)")
    assert "+ 1" not in path.read_text()


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ("[local]\nmemory_budget_gb = inf\n", "local.memory_budget_gb: expected a number above 0"),
        ("[local]\nthreads = 100000\n", "local.threads: expected a whole number from 1 to 256"),
        # With no node left, the fix falls back to the embedded model and runs it.
        pytest.param('nodes = "abc"\n', "nodes: expected a list, got 'abc'", marks=pytest.mark.slow),
    ],
)
def test_hostile_settings_cost_one_key_and_one_message(tmp_path: Path, stub_node, config: str, problem: str) -> None:
    stub_node.set_script({"default": {"chunks": answered(FIXED_FUNCTION)}})
    top_level = config.startswith("nodes")
    good = '[network]\nmode = "remote-first"\n' if top_level else node_config(stub_node.url, ["code-llama-7b"])
    path = workspace(tmp_path, config + good if top_level else good + config)
    result = run_cli("run", "fix", str(path), "--line", "6", cwd=tmp_path)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("freescode: config:")]
    assert len(lines) == 1 and problem in lines[0], result.stderr


def test_a_fix_that_only_drops_a_comment_is_asked_again_and_not_applied(tmp_path: Path, stub_node) -> None:
    unit = BUGGY.splitlines(keepends=True)[3:8]
    commented = "".join(unit[:2]) + "    # add them up\n" + "".join(unit[2:])
    stub_node.set_script({"default": {"chunks": answered("".join(unit))}})
    path = workspace(tmp_path, node_config(stub_node.url, ["code-llama-7b"]))
    path.write_text(BUGGY.replace("".join(unit), commented))
    result = run_cli("run", "fix", str(path), "--line", "6", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no real change (only comments, blank lines or trailing spaces differ)" in result.stdout, result.stdout
    assert len(stub_node.requests()) == 2 and "# add them up" in path.read_text()
