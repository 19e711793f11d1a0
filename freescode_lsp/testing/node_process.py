"""A node gateway for tests: a real `freescode node serve --port 0` process on 127.0.0.1.

gateway = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url)
gateway.http.get("/health")              # an httpx.Client on the gateway's root URL
gateway.log()                            # what it wrote on stderr so far
gateway.stop()
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Self

import httpx

from freescode_lsp.testing.preloaded import module_command, served_pid
from freescode_lsp.testing.processes import read_port, stop_process
from freescode_lsp.wire.http_client import tls_context

STARTUP_TIMEOUT_S = 180.0


class NodeProcess:
    """A running gateway process, its stderr log file and an HTTP client on it."""

    def __init__(self, process: subprocess.Popen[str], port: int, log_file: Path, ledger: Path) -> None:
        self.process = process
        self.port = port
        self.log_file = log_file
        self.ledger = ledger
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"
        self.http = httpx.Client(base_url=self.url, timeout=30, verify=tls_context())

    @property
    def pid(self) -> int:
        """The pid of the gateway itself (not of a launcher in front of it), for /proc and resource limits."""
        return served_pid(self.process)

    def log(self) -> str:
        """Everything the gateway wrote on stderr so far."""
        return self.log_file.read_text(errors="replace")

    def engine(self) -> tuple[int, str] | None:
        """The pid and URL of the engine the gateway started, from its log; None when it fronts a URL."""
        found = re.search(r"engine pid (\d+) ready on (\S+)", self.log())
        return (int(found.group(1)), found.group(2)) if found else None

    def stop(self) -> int:
        """Stop the process (SIGTERM, then SIGKILL) and return its exit code."""
        self.http.close()
        stop_process(self.process, 20)
        return self.process.returncode

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_gateway(directory: Path, *args: str, ledger: Path | None = None, env: dict[str, str] | None = None) -> NodeProcess:
    """Start `freescode node serve --port 0 ARGS` with its ledger and log in `directory`; wait for /health."""
    ledger = ledger or directory / "node-ledger.sqlite3"
    log_file = directory / f"node-{time.monotonic_ns()}.log"
    command = module_command("freescode_lsp.cli", "node", "serve", "--port", "0", "--ledger", str(ledger))
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [*command, *args], stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, **(env or {})}
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    try:
        port = read_port(process, deadline, "node gateway")
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}; its log:\n{log_file.read_text(errors='replace')}") from None
    gateway = NodeProcess(process, port, log_file, ledger)
    while True:
        try:
            gateway.http.get("/metrics").raise_for_status()
            return gateway
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                gateway.stop()
                raise RuntimeError(f"the node gateway did not answer; its log:\n{gateway.log()}") from None
            time.sleep(0.05)
