"""The `freescode` command in tests: as a child process, or in this process where a test patches what it uses."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from freescode_lsp.testing.preloaded import module_command

CLI_TIMEOUT_S = 300.0


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    timeout: float = CLI_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """`freescode ARGS...` as a child process, with this environment plus `env`; its exit code and output."""
    return subprocess.run(
        module_command("freescode_lsp.cli", *args),
        cwd=cwd,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_cli_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """`freescode ARGS...` through `cli.main` in this process (so monkeypatches apply); its exit code and output."""
    from freescode_lsp import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return subprocess.CompletedProcess(["freescode", *args], code, out.getvalue(), err.getvalue())
