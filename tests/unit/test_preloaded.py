"""Processes forked from the preloaded interpreter behave as `python -m` would: stdio, folder, environment, exit, signals."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from freescode_lsp.testing.preload_launch import PRELOADER_ENV
from freescode_lsp.testing.preloaded import Preloader, module_command, served_pid
from freescode_lsp.testing.waiting import wait_for

# timeit puts "." first in sys.path; what `-m` put first is next.
SHOW = "import os, sys; sys.stdout.write(os.getcwd() + '|' + sys.path[1] + '|' + os.environ['GREETING'] + '|' + sys.stdin.read())"
SLEEP = "import time; time.sleep(120)"


@pytest.fixture
def preloader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Preloader]:
    """A preloader of this test's own, named in the environment the launchers inherit."""
    started = Preloader()
    monkeypatch.setenv(PRELOADER_ENV, started.path)
    yield started
    started.stop()


def timeit(statement: str) -> list[str]:
    """`python -m timeit` running one statement once: a stdlib module that runs any code we give it."""
    return module_command("timeit", "-n", "1", "-r", "1", statement)


def alive(pid: int) -> bool:
    """Whether a process runs (not ended, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize("preloaded", [True, False])
def test_the_module_gets_the_launchers_stdio_folder_and_environment(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, preloaded: bool
) -> None:
    if preloaded:
        request.getfixturevalue("preloader")
    else:
        monkeypatch.delenv(PRELOADER_ENV, raising=False)
    environment = {**os.environ, "GREETING": "hi"}
    done = subprocess.run(timeit(SHOW), input="typed", capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{tmp_path}|{tmp_path}|hi|typed")


def test_the_launcher_ends_with_the_modules_exit_code_and_error_output(preloader: Preloader) -> None:
    done = subprocess.run(module_command("json.tool"), input="{not json", capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Expecting property name" in done.stderr and done.stdout == ""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_signal_to_the_launcher_reaches_the_module_and_the_launcher_ends_by_it(preloader: Preloader) -> None:
    launcher = subprocess.Popen(timeit(SLEEP), stdout=subprocess.DEVNULL)
    child = wait_for(lambda: served_pid(launcher) if served_pid(launcher) != launcher.pid else None, "the forked child")
    assert alive(child)
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=30) == -signal.SIGTERM
    wait_for(lambda: not alive(child), "the child to end")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_killed_launcher_takes_its_module_with_it(preloader: Preloader) -> None:
    launcher = subprocess.Popen(timeit(SLEEP), stdout=subprocess.DEVNULL)
    child = wait_for(lambda: served_pid(launcher) if served_pid(launcher) != launcher.pid else None, "the forked child")
    launcher.kill()
    launcher.wait(timeout=30)
    wait_for(lambda: not alive(child), "the child to be killed with its launcher")


def test_without_a_preloader_the_launcher_is_the_module_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRELOADER_ENV, raising=False)
    launcher = subprocess.Popen(timeit(SLEEP), stdout=subprocess.DEVNULL)
    try:
        assert served_pid(launcher) == launcher.pid
        command = Path(f"/proc/{launcher.pid}/cmdline")
        wait_for(lambda: command.read_bytes().split(b"\0")[1:3] == [b"-m", b"timeit"] or None, "plain python -m")
    finally:
        launcher.kill()
        launcher.wait(timeout=30)
