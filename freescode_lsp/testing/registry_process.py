"""A registry for tests: a real `freescode registry serve --port 0` process on 127.0.0.1.

registry = start_registry(tmp_path / "registry.sqlite3", tokens={"alice": "a-token"}, lease_s=1)
# Tests run every node on loopback, so the registry allows loopback nodes unless allow_loopback=False.
registry.http.get("/v1/models")          # an httpx.Client on the registry's root URL
registry.stop()
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from freescode_lsp.testing.preloaded import module_command, served_pid
from freescode_lsp.testing.processes import read_port, stop_process
from freescode_lsp.wire.http_client import tls_context

STARTUP_TIMEOUT_S = 30.0
TOKENS_ENV = "FREESCODE_OPERATOR_TOKENS"


class RegistryProcess:
    """A running registry process and an HTTP client on it."""

    def __init__(self, process: subprocess.Popen[str], port: int, db: Path) -> None:
        self.process = process
        self.port = port
        self.db = db
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=10, verify=tls_context())

    @property
    def pid(self) -> int:
        """The pid of the registry itself (not of a launcher in front of it), for /proc and resource limits."""
        return served_pid(self.process)

    def stop(self) -> int:
        """Stop the process (SIGTERM, then SIGKILL) and return its exit code."""
        self.http.close()
        stop_process(self.process, 10)
        return self.process.returncode

    def __enter__(self) -> RegistryProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_registry(
    db: Path,
    *,
    tokens: Mapping[str, str] | None = None,
    env_tokens: str | None = None,
    lease_s: float | None = None,
    probe_interval_s: float | None = None,
    allow_loopback: bool = True,
    stderr: Path | None = None,
    extra_args: tuple[str, ...] = (),
) -> RegistryProcess:
    """Start a registry on a free loopback port with these operator tokens and wait until it answers.

    `stderr`: a file that gets the registry's log instead of this process's stderr.
    """
    command = module_command("freescode_lsp.cli", "registry", "serve", "--port", "0", "--db", str(db))
    if tokens is not None:
        tokens_file = db.with_name(db.name + ".tokens")
        tokens_file.write_text("".join(f"{name}:{token}\n" for name, token in tokens.items()))
        command += ["--operator-tokens", str(tokens_file)]
    if lease_s is not None:
        command += ["--lease-s", str(lease_s)]
    if probe_interval_s is not None:
        command += ["--probe-interval-s", str(probe_interval_s)]
    if allow_loopback:
        command.append("--allow-loopback-nodes")
    command += list(extra_args)
    env = {key: value for key, value in os.environ.items() if key != TOKENS_ENV}
    if env_tokens is not None:
        env[TOKENS_ENV] = env_tokens
    if stderr is None:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    else:
        with stderr.open("w") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    registry = RegistryProcess(process, read_port(process, deadline, "registry"), db)
    while True:
        try:
            registry.http.get("/health").raise_for_status()
            return registry
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                registry.stop()
                raise RuntimeError("registry did not answer /health") from None
            time.sleep(0.05)
