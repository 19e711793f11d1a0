"""`freescode run fix --verify` as a real process: scripted wrong-then-right answers from the stub node, real pytest."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path

import pytest

from freescode_lsp.config import trust
from freescode_lsp.tasks.retry import RETRY_TEMPERATURE
from freescode_lsp.testing.cli_runner import run_cli

pytestmark = pytest.mark.usefixtures("checks_without_plugins")

BUGGY = '''"""Stats."""


def average(values):
    total = 0
    for value in values:
        total += value
    return total / len(values) + 1
'''
WRONG = "def average(values):\n    return sum(values) / len(values) + 2\n"
HALF = "def average(values):\n    return sum(values) / len(values)\n"
RIGHT = "def average(values):\n    return sum(values) / len(values) if values else 0.0\n"
TESTS = """from stats import average


def test_mean():
    assert average([1, 2, 3]) == 2


def test_empty():
    assert average([]) == 0.0


def test_one():
    assert average([4]) == 4
"""


def answer(code: str) -> dict[str, list[str]]:
    text = f"```python\n{code}```\n"
    return {"chunks": [text[i : i + 9] for i in range(0, len(text), 9)]}


def project(tmp_path: Path, url: str, extra: str = "", trusted: bool = True) -> Path:
    """stats.py, tests/test_stats.py that imports it, and a freescode.toml naming the stub node."""
    (tmp_path / "stats.py").write_text(BUGGY)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_stats.py").write_text(TESTS)
    config = f'[network]\nmode = "remote-first"\n[[nodes]]\nurl = "{url}/v1"\nmodels = ["code-llama-7b"]\n{extra}'
    (tmp_path / "freescode.toml").write_text(config)
    if trusted:
        assert trust.trust(tmp_path)
    return tmp_path / "stats.py"


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_a_wrong_answer_is_followed_by_the_fix_aimed_at_the_failure_then_by_the_candidate_and_its_failure(
    tmp_path: Path, stub_node
) -> None:
    stub_node.set_script({"queue": [answer(WRONG), answer(HALF), answer(RIGHT)]})
    path = project(tmp_path, stub_node.url)
    result = run_cli("run", "fix", str(path), "--line", "5", "--verify", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pytest on the tests that import stats: tests/test_stats.py" in result.stderr
    assert "attempt 1 of 3: `" in result.stderr and "failed (exit 1)" in result.stderr
    assert "verified: `" in result.stderr and "passed (attempt 3 of 3)" in result.stderr
    assert "if values else 0.0" in path.read_text()
    plain, aimed, retry = (request["messages"][-1]["content"] for request in stub_node.requests())
    assert "the project's check" not in plain
    assert "The code above fails the project's check" in aimed and "assert" in aimed and "test_" in aimed
    assert "A previous attempt" not in aimed and "+ 2" not in aimed
    assert "A previous attempt" in retry and "if values" not in retry and "failed the project's check" in retry
    assert "return sum(values) / len(values)\n" in retry and "assert" in retry
    temperatures = [request["temperature"] for request in stub_node.requests()]
    assert temperatures[0] <= 0.1 and temperatures[1] <= 0.1 and temperatures[2] == RETRY_TEMPERATURE


def test_an_answer_that_keeps_the_code_is_followed_by_the_fix_aimed_at_the_failure(tmp_path: Path, stub_node) -> None:
    unit = BUGGY.split("\n\n\n", 1)[1]
    stub_node.set_script({"queue": [answer(unit), answer(unit), answer(RIGHT)]})
    path = project(tmp_path, stub_node.url)
    result = run_cli("run", "fix", str(path), "--line", "5", "--verify", "--apply", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "attempt 1 of 3: the same code as before; not run again" in result.stderr
    assert "passed (attempt 2 of 3)" in result.stderr
    aimed = stub_node.requests()[2]["messages"][-1]["content"]
    assert "The code above fails the project's check" in aimed and "A previous attempt" not in aimed
    assert "assert" in aimed and "test_" in aimed


def test_an_identical_answer_is_not_run_again_and_nothing_unverified_is_written(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(WRONG), answer(WRONG), answer(HALF)]})
    path = project(tmp_path, stub_node.url)
    before = tree_hash(tmp_path)
    result = run_cli("run", "fix", str(path), "--line", "5", "--verify", "--apply", cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert result.stderr.count(": running `") == 2
    assert "attempt 2 of 3: the same code as before; not run again" in result.stderr
    assert "best candidate: attempt 3, 2 tests passed (the original: 0)" in result.stderr
    assert "not applied: no candidate passed" in result.stderr
    assert tree_hash(tmp_path) == before


def test_the_best_candidate_is_written_only_when_asked(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(HALF)]})
    path = project(tmp_path, stub_node.url)
    result = run_cli(
        "run", "fix", str(path), "--line", "5", "--verify", "--attempts", "1", "--apply", "--apply-unverified", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "return sum(values) / len(values)\n" in path.read_text()


def test_an_untrusted_workspace_check_does_not_run(tmp_path: Path, stub_node) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    check = f'[verify]\ncommand = "touch {marker}"\n'
    stub_node.set_script({"queue": [answer(RIGHT)]})
    path = project(tmp_path, stub_node.url, check, trusted=False)
    result = run_cli("run", "fix", str(path), "--line", "5", "--verify", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "is not run until you trust the file" in result.stderr
    assert not marker.exists()
    assert trust.trust(tmp_path)
    trusted = run_cli("run", "fix", str(path), "--line", "5", "--verify", cwd=tmp_path)
    assert f"check: `touch {marker}` (from [verify] command)" in trusted.stderr
    assert marker.exists()


PASSES_TWO = BUGGY.replace(" + 1", "")
PYTEST_CHECK = f"{shlex.quote(sys.executable)} -m pytest -q -p no:cacheprovider {{tests}}"


def test_a_plain_fix_that_breaks_passing_tests_is_not_written(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(WRONG)]})
    path = project(tmp_path, stub_node.url, f"[verify]\ncommand = {json.dumps(PYTEST_CHECK)}\n")
    path.write_text(PASSES_TWO)
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", cwd=tmp_path)
    assert result.returncode == 5, result.stderr
    assert "2 tests passed before the fix, 0 after it" in result.stderr
    assert "failing now: tests/test_stats.py::test_mean, tests/test_stats.py::test_one" in result.stderr
    assert "not applied: the fix makes things worse" in result.stderr and "--no-guard" in result.stderr
    assert path.read_text() == PASSES_TWO
    assert len(stub_node.requests()) == 1


def test_a_plain_fix_that_keeps_the_passing_tests_is_written_with_what_the_check_said(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(RIGHT)]})
    path = project(tmp_path, stub_node.url)
    path.write_text(PASSES_TWO)
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", "--check", PYTEST_CHECK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 tests passed before the fix, 3 after it" in result.stderr and "worse" not in result.stderr
    assert "if values else 0.0" in path.read_text()


def test_no_guard_writes_the_fix_unchecked(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(WRONG)]})
    path = project(tmp_path, stub_node.url, f"[verify]\ncommand = {json.dumps(PYTEST_CHECK)}\n")
    path.write_text(PASSES_TWO)
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", "--no-guard", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "checking the fix" not in result.stderr
    assert "+ 2" in path.read_text()


def test_an_untrusted_check_does_not_guard_a_plain_fix(tmp_path: Path, stub_node) -> None:
    marker = tmp_path.parent / f"{tmp_path.name}-guarded"
    stub_node.set_script({"queue": [answer(RIGHT)]})
    path = project(tmp_path, stub_node.url)
    own = tmp_path.parent / f"{tmp_path.name}-own.toml"
    own.write_text((tmp_path / "freescode.toml").read_text())
    (tmp_path / "freescode.toml").write_text(f'[verify]\ncommand = "touch {marker}"\n')
    result = run_cli("run", "fix", str(path), "--line", "5", "--apply", cwd=tmp_path, env={"FREESCODE_CONFIG": str(own)})
    assert result.returncode == 0, result.stderr
    assert "the fix is not checked: the [verify] command" in result.stderr
    assert not marker.exists()
    assert "if values else 0.0" in path.read_text()


def test_a_verified_candidate_from_a_stand_in_model_is_said_and_written_only_when_allowed(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"default": answer(RIGHT)})
    path = project(tmp_path, stub_node.url)
    config = tmp_path / "freescode.toml"
    config.write_text(
        config.read_text().replace('"remote-first"', '"remote-only"').replace('["code-llama-7b"]', '["gemma-3-270m"]')
    )
    assert trust.trust(tmp_path)
    refused = run_cli("run", "fix", str(path), "--line", "5", "--verify", "--apply", cwd=tmp_path)
    assert refused.returncode == 3, refused.stderr
    assert "note: gemma-3-270m answered instead of code-llama-7b" in refused.stderr
    assert "not applied: gemma-3-270m answered instead of code-llama-7b" in refused.stderr
    assert path.read_text() == BUGGY
    allowed = run_cli("run", "fix", str(path), "--line", "5", "--verify", "--apply", "--allow-fallback", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    assert "if values else 0.0" in path.read_text()
