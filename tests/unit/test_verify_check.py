"""A check in a scratch copy, with real processes: hangs, forks, floods and writes are stopped or kept in the copy."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import pytest

from freescode_lsp.config import load_settings
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.verify.check import run_check
from freescode_lsp.verify.detect import NoCheck, choose_check
from freescode_lsp.verify.feedback import trimmed_failure
from freescode_lsp.verify.scratch import scratch_copy

pytestmark = pytest.mark.usefixtures("checks_without_plugins")

PY = sys.executable


def project(root: Path) -> Path:
    """A small workspace: a package module, a test that imports it, and one that does not."""
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "stats.py").write_text("def mean(xs):\n    return sum(xs) / len(xs)\n")
    (root / "tests").mkdir()
    (root / "tests" / "test_stats.py").write_text(
        "from pkg import stats\n\n\ndef test_mean():\n    assert stats.mean([2]) == 2\n"
    )
    (root / "tests" / "test_other.py").write_text("def test_other():\n    assert True\n")
    return root


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + (path.read_bytes() if path.is_file() else b"/"))
    return digest.hexdigest()


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def pids_in(path: Path) -> list[int]:
    text = path.read_text() if path.exists() else ""
    return [int(word) for word in text.split()] if text.endswith("\n") else []


async def check(root: Path, code: str, timeout_s: float = 60.0, cap: int = 1_000_000):
    async with scratch_copy(root, Path("pkg/stats.py"), "def mean(xs):\n    return 0\n") as scratch:
        return await run_check([PY, "-c", code], scratch, timeout_s, cap)


async def test_a_passing_check_reports_exit_0_every_time(tmp_path: Path) -> None:
    root = project(tmp_path)
    results = [await check(root, "print('ok')") for _ in range(20)]
    assert [result.exit_code for result in results] == [0] * 20


async def test_a_check_that_hangs_is_stopped_at_its_time_limit(tmp_path: Path) -> None:
    result = await check(project(tmp_path), "import time\nprint('started', flush=True)\ntime.sleep(600)", timeout_s=1.0)
    assert result.timed_out and not result.passed
    assert "started" in result.output and "time limit" in result.verdict()


async def test_a_forked_child_is_killed_when_the_check_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{child.pid}}\\n')\n"
        "print('parent done')\n"
    )
    result = await check(project(tmp_path / "ws"), code)
    assert result.passed and "parent done" in result.output
    [child] = pids_in(pid_file)
    wait_for(lambda: not alive(child), "the forked child to be gone", timeout=10)


async def test_writes_of_a_check_stay_in_its_copy(tmp_path: Path) -> None:
    root = project(tmp_path / "ws")
    before = tree_hash(root)
    code = (
        "import pathlib, subprocess, sys, tempfile\n"
        "for p in pathlib.Path('.').rglob('*.py'):\n"
        "    p.write_text('broken')\n"
        "pathlib.Path('pkg/new.txt').write_text('new')\n"
        "pathlib.Path(tempfile.gettempdir(), 'scratch.txt').write_text('t')\n"
        "subprocess.run([sys.executable, '-m', 'pytest', '-q', 'tests'])\n"
        "subprocess.run([sys.executable, '-m', 'compileall', '-q', '.'])\n"
    )
    result = await check(root, code)
    assert result.exit_code == 0
    assert tree_hash(root) == before


async def test_a_check_that_prints_100_mb_is_capped(tmp_path: Path) -> None:
    code = "import sys\nfor _ in range(100):\n    sys.stdout.buffer.write(b'x' * 1_000_000)\n"
    result = await check(project(tmp_path), code, cap=1_000_000)
    assert result.flooded and not result.passed
    assert len(result.output) == 1_000_000 and "output cap" in result.verdict()


async def test_cancel_during_a_check_kills_its_processes(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}\\n')\n"
        "time.sleep(600)\n"
    )
    running = asyncio.ensure_future(check(project(tmp_path / "ws"), code, timeout_s=600))
    while not pids_in(pid_file):
        assert not running.done(), running
        await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    for pid in pids_in(pid_file):
        wait_for(lambda pid=pid: not alive(pid), f"process {pid} of the cancelled check to be gone", timeout=10)


def test_the_check_is_pytest_on_the_tests_that_import_the_module(tmp_path: Path) -> None:
    root = project(tmp_path)
    chosen = choose_check(root, Path("pkg/stats.py"), None)
    assert chosen.argv[-1] == "tests/test_stats.py" and "-m" in chosen.argv and "pytest" in chosen.argv
    assert "tests/test_other.py" not in chosen.argv and "pkg.stats" in chosen.why
    configured = choose_check(root, Path("pkg/stats.py"), "mypy {file} --strict {tests}")
    assert configured.argv == ("mypy", "pkg/stats.py", "--strict", "tests/test_stats.py")
    with pytest.raises(NoCheck, match="no test file imports pkg.other"):
        choose_check(root, Path("pkg/other.py"), None)


def test_a_workspace_check_waits_for_trust(tmp_path: Path) -> None:
    (tmp_path / "freescode.toml").write_text('[verify]\ncommand = "rm -rf ~"\ntimeout_s = 5\n')
    loaded = load_settings(tmp_path)
    assert loaded.settings.verify.command is None and "verify.command" in loaded.untrusted
    assert loaded.settings.verify.timeout_s == 5


def test_the_failure_shown_to_the_model_is_the_first_failing_test() -> None:
    output = (
        "..F.F\n=================================== FAILURES ===================================\n"
        "___________________________________ test_one ___________________________________\n"
        "    def test_one():\n>       assert mean([1]) == 1\nE       assert 0 == 1\n"
        "___________________________________ test_two ___________________________________\n"
        "E       assert 5 == 2\n=========================== short test summary info ============================\n"
    )
    trimmed = trimmed_failure(output)
    assert "test_one" in trimmed and "assert 0 == 1" in trimmed
    assert "test_two" not in trimmed and "short test summary" not in trimmed
