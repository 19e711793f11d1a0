"""A scripted OpenAI-compatible node for tests: a real HTTP server process on 127.0.0.1.

From a test:

    node = start_stub_node({"default": {"chunks": ["Hel", "lo"]}})
    engine = RemoteEngine(node.url)          # node.url has no /v1; node.base_url has it
    ...
    node.requests()                          # JSON bodies received by POST /v1/...
    node.records()                           # the same with method, path, headers and outcome
    node.set_script({...}); node.clear()     # new answers; forget recorded requests
    node.stop()

By hand: `python -m freescode_lsp.testing.stub_node --port 0 --script script.json` prints `PORT <n>` once bound.

The script's format and the wire dialects: see freescode_lsp.testing.stub_node_app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from freescode_lsp.testing.preloaded import module_command
from freescode_lsp.testing.processes import read_port, stop_process
from freescode_lsp.testing.stub_node_app import HideDeaths, StubState, create_app
from freescode_lsp.wire.http_client import tls_context

STARTUP_TIMEOUT_S = 20.0


class StubNode:
    """A running stub node process and the handles to script and inspect it."""

    def __init__(self, process: subprocess.Popen[str], port: int, script_file: Path | None) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.url}/v1"
        self._script_file = script_file
        self._http = httpx.Client(base_url=self.url, timeout=10, verify=tls_context())

    def records(self) -> list[dict[str, Any]]:
        """Every request to a generation endpoint or to a path the stub does not serve (outcome "not_found"):
        method, path, headers (lower case), body, outcome."""
        response = self._http.get("/_stub/requests")
        response.raise_for_status()
        return list(response.json())

    def requests(self) -> list[Any]:
        """The JSON bodies of the generation requests received, in order."""
        return [record["body"] for record in self.records()]

    def set_script(self, script: dict[str, Any]) -> None:
        """Replace the script (and its queue)."""
        self._http.post("/_stub/script", json=script).raise_for_status()

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        self._http.post("/_stub/clear").raise_for_status()

    def release(self) -> None:
        """Let answers scripted with `hold` go on."""
        self._http.post("/_stub/release").raise_for_status()

    def reset(self, script: dict[str, Any] | None = None) -> None:
        """Set a script (empty by default) and forget recorded requests."""
        self._http.post("/_stub/script", params={"clear": "1"}, json=script or {}).raise_for_status()

    def stop(self) -> None:
        """Stop the process and remove its script file."""
        self._http.close()
        stop_process(self.process, 5)
        if self._script_file is not None:
            self._script_file.unlink(missing_ok=True)

    def __enter__(self) -> StubNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_stub_node(script: dict[str, Any] | None = None) -> StubNode:
    """Start a stub node process on a free loopback port and wait until it answers."""
    script_file: Path | None = None
    command = module_command("freescode_lsp.testing.stub_node", "--port", "0")
    if script is not None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(script, handle)
        script_file = Path(handle.name)
        command += ["--script", str(script_file)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    port = read_port(process, deadline, "stub node")
    node = StubNode(process, port, script_file)
    while True:
        try:
            node.records()
            return node
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                node.stop()
                raise RuntimeError("stub node did not answer") from None
            time.sleep(0.05)


def serve(port: int, script: dict[str, Any] | None) -> None:
    """Bind 127.0.0.1:port, print the bound port, and serve until stopped."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        create_app(StubState(script)),
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(HideDeaths())
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    asyncio.run(server.serve(sockets=[sock]))


def main() -> None:
    """Command line: --port N (0 for any free port), --script FILE (JSON)."""
    parser = argparse.ArgumentParser(description="Scripted OpenAI-compatible stub node on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--script", type=Path, default=None)
    args = parser.parse_args()
    script = json.loads(args.script.read_text()) if args.script else None
    serve(args.port, script)


if __name__ == "__main__":
    main()
