"""Shared pieces for the HTTP services: a listening socket, a uvicorn server that stops cleanly, child-process stopping."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
from collections.abc import Iterator

import uvicorn

from freescode_lsp.mesh.collection_pauses import with_scheduled_collections
from freescode_lsp.mesh.fast_loop import run_on_fast_loop


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


class QuietServer(uvicorn.Server):
    """Stops on SIGINT/SIGTERM and returns, instead of re-raising the signal after shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve_on_fast_loop(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve on a bound socket until the server stops, on uvloop when it is installed, with full collections scheduled."""
    run_on_fast_loop(with_scheduled_collections(server.serve(sockets=[sock])))


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], grace_s: float = 5.0) -> int:
    """SIGTERM, then SIGKILL after a grace period; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode
