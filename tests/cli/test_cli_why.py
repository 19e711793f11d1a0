"""`freescode run fix --why`: the error the user saw, the line and the callees reach the prompt; an unchanged answer is
asked once more, sampled."""

from __future__ import annotations

import subprocess
from pathlib import Path

from freescode_lsp.config import trust
from freescode_lsp.tasks.retry import RETRY_TEMPERATURE
from freescode_lsp.testing.cli_runner import run_cli

SOURCE = '''def scale(value, factor):
    """Multiply value by factor."""
    return value * factor


def prices(values, factor):
    out = []
    for i in range(len(values) - 1):
        out.append(scale(values[i], factor))
    return out
'''
UNIT = SOURCE[SOURCE.index("def prices") :]
FIXED_UNIT = UNIT.replace("range(len(values) - 1)", "range(len(values))")
WHY = "test_prices: assert prices([1, 2], 2) == [2, 4]"


def run_fix(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "freescode.toml").write_text(
        f'[network]\nmode = "remote-only"\n[[nodes]]\nurl = "{url}/v1"\n'
        'models = ["code-llama-7b", "wizardcoder-13b", "gemma-3-270m"]\n'
    )
    assert trust.trust(tmp_path)
    (tmp_path / "shop.py").write_text(SOURCE)
    return run_cli("run", "fix", "shop.py", "--line", "8", "--apply", *extra, cwd=tmp_path)


def answer(code: str) -> dict:
    return {"chunks": [f"```python\n{code}```\n"]}


def test_why_the_line_and_the_callees_reach_the_prompt(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": answer(FIXED_UNIT)})
    done = run_fix(tmp_path, stub_node.url, "--why", WHY)
    assert done.returncode == 0, done.stderr
    [request] = stub_node.requests()
    prompt = request["messages"][-1]["content"]
    assert WHY in prompt
    assert "The bug is probably on or near this line: `for i in range(len(values) - 1):`" in prompt
    assert 'def scale(value, factor):\n    """\n    Multiply value by factor.' in prompt
    assert (tmp_path / "shop.py").read_text() == SOURCE.replace(UNIT, FIXED_UNIT)


def test_an_unchanged_answer_is_asked_once_more_sampled_and_the_second_is_applied(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(UNIT), answer(FIXED_UNIT)]})
    done = run_fix(tmp_path, stub_node.url)
    assert done.returncode == 0, done.stderr
    first, second = stub_node.requests()
    assert "changed nothing" not in first["messages"][-1]["content"] and "unchanged" not in first["messages"][-1]["content"]
    assert "A first answer gave this code back unchanged" in second["messages"][-1]["content"]
    assert second["temperature"] == RETRY_TEMPERATURE and first["temperature"] < RETRY_TEMPERATURE
    assert (tmp_path / "shop.py").read_text() == SOURCE.replace(UNIT, FIXED_UNIT)


def test_unchanged_twice_asks_exactly_twice_and_says_so(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": answer(UNIT)})
    done = run_fix(tmp_path, stub_node.url)
    assert done.returncode == 0, done.stderr
    assert len(stub_node.requests()) == 2
    assert "proposes no change (asked twice)" in done.stdout
    assert (tmp_path / "shop.py").read_text() == SOURCE


def test_a_model_the_catalog_does_not_ask_twice_is_asked_once(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": answer(UNIT)})
    done = run_fix(tmp_path, stub_node.url, "--model", "gemma-3-270m")
    assert done.returncode == 0, done.stderr
    assert len(stub_node.requests()) == 1
    assert "proposes no change" in done.stdout and "asked twice" not in done.stdout
