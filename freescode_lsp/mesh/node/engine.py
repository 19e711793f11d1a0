"""The engine a node gateway starts itself: llama-cpp-python's server on a private loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.serving import stop_process
from freescode_lsp.system.exits import describe_exit
from freescode_lsp.wire.http_client import tls_context

ENGINE_HOST = "127.0.0.1"
READY_TIMEOUT_S = 180.0
STOP_GRACE_S = 10.0


class EngineFailed(FreescodeError):
    """The engine process could not be started or did not come up."""


def free_port(host: str = ENGINE_HOST) -> int:
    """A port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ManagedEngine:
    """`python -m llama_cpp.server` as a child that dies with the gateway (see node_engine_child)."""

    def __init__(self, gguf: Path, model: str, context: int, threads: int | None = None) -> None:
        self.gguf = gguf
        self.model = model
        self.context = context
        self.threads = threads
        self.port = free_port()
        self.url = f"http://{ENGINE_HOST}:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The engine's command line."""
        command = [
            sys.executable,
            "-m",
            "freescode_lsp.mesh.node.engine_child",
            "--model",
            str(self.gguf),
            "--model_alias",
            self.model,
            "--host",
            ENGINE_HOST,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context),
            "--interrupt_requests",
            "False",
            "--verbose",
            "False",
        ]
        if self.threads is not None:
            command += ["--n_threads", str(self.threads)]
        return command

    @property
    def pid(self) -> int | None:
        """The engine's process id once started."""
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether the engine process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start the engine (own session, stdin the lifeline, stdout to our stderr) and wait until it answers."""
        self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=sys.stderr, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        with httpx.Client(verify=tls_context(), timeout=5) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise EngineFailed(f"the engine {describe_exit(code)} while loading {self.gguf}")
                try:
                    if client.get(f"{self.url}/v1/models").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise EngineFailed(f"the engine did not answer within {timeout_s:g} s")
                time.sleep(0.1)

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after the grace period; the exit code."""
        process = self.process
        if process is None:
            return None
        stop_process(process, grace_s)
        if process.stdin is not None:
            process.stdin.close()
        return process.returncode
