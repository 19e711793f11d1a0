"""Many simulated nodes in one process, for registry tests, chaos and benchmarks: each answers a registry's probes.

Node k of operator o lives at http://127.0.0.1:PORT/o{o}/n{k}: it proves it is run by operator o (whose token
is `{secret}-{o}`), lists the farm's models and is healthy. Nothing generates text.

farm = start_node_farm("s3cret", ["mistral-7b"])
farm.url(0, 7); farm.token(0)          # a node's URL, its operator's token
farm.set_script({"hang": ["o0/n7"]})   # that node's ownership check never answers ("down": its /health is 503)
farm.probes()                          # {"o0/n7": [unix times of each ownership challenge], ...}
farm.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import time
from collections import defaultdict

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from freescode_lsp.mesh.node.ownership import challenge_answer
from freescode_lsp.testing.processes import read_port, stop_process
from freescode_lsp.wire.http_client import tls_context
from freescode_lsp.wire.ownership import OWNERSHIP_PATH, ownership_key

STARTUP_TIMEOUT_S = 20.0
HANG_S = 3600.0


def operator_token(secret: str, operator: int) -> str:
    """The token of operator number `operator` of a farm."""
    return f"{secret}-{operator}"


def create_app(secret: str, models: list[str]) -> Starlette:
    """The farm's HTTP app."""
    keys: dict[int, bytes] = {}
    probes: dict[str, list[float]] = defaultdict(list)
    script: dict[str, set[str]] = {"hang": set(), "down": set()}
    listing = {"object": "list", "data": [{"id": model, "object": "model"} for model in models]}

    def node(request: Request) -> str:
        return f"o{request.path_params['operator']}/n{request.path_params['node']}"

    async def ownership(request: Request) -> Response:
        name = node(request)
        probes[name].append(time.time())
        if name in script["hang"]:
            await asyncio.sleep(HANG_S)
        operator = int(request.path_params["operator"])
        key = keys.get(operator) or keys.setdefault(operator, ownership_key(operator_token(secret, operator)))
        return challenge_answer(request, key)

    async def model_list(request: Request) -> Response:
        return JSONResponse(listing)

    async def health(request: Request) -> Response:
        down = node(request) in script["down"]
        return JSONResponse({"status": "unavailable" if down else "ok"}, status_code=503 if down else 200)

    async def get_probes(request: Request) -> Response:
        if request.query_params.get("count"):
            return JSONResponse({"nodes": len(probes), "probes": sum(len(times) for times in probes.values())})
        return JSONResponse(probes)

    async def set_script(request: Request) -> Response:
        body = await request.json()
        for name in script:
            script[name] = set(body.get(name, []))
        return JSONResponse({"ok": True})

    prefix = "/o{operator:int}/n{node:int}"
    return Starlette(
        routes=[
            Route(prefix + OWNERSHIP_PATH, ownership, methods=["GET"]),
            Route(prefix + "/v1/models", model_list, methods=["GET"]),
            Route(prefix + "/health", health, methods=["GET"]),
            Route("/_farm/probes", get_probes, methods=["GET"]),
            Route("/_farm/script", set_script, methods=["POST"]),
        ]
    )


class NodeFarm:
    """A running farm process and the handles to script and inspect it."""

    def __init__(self, process: subprocess.Popen[str], port: int, secret: str) -> None:
        self.process = process
        self.port = port
        self.secret = secret
        self.root = f"http://127.0.0.1:{port}"
        self._http = httpx.Client(base_url=self.root, timeout=30, verify=tls_context())

    def url(self, operator: int, node: int) -> str:
        """The URL of one simulated node."""
        return f"{self.root}/o{operator}/n{node}"

    def token(self, operator: int) -> str:
        """The token of one operator, which its nodes prove ownership with."""
        return operator_token(self.secret, operator)

    def probes(self) -> dict[str, list[float]]:
        """The times of every ownership challenge, by node (`o{operator}/n{node}`)."""
        response = self._http.get("/_farm/probes")
        response.raise_for_status()
        return dict(response.json())

    def probe_count(self) -> int:
        """How many ownership challenges all nodes got."""
        response = self._http.get("/_farm/probes", params={"count": "1"})
        response.raise_for_status()
        return int(response.json()["probes"])

    def set_script(self, script: dict[str, list[str]]) -> None:
        """Which nodes hang on their ownership challenge (`hang`) and which answer /health with 503 (`down`)."""
        self._http.post("/_farm/script", json=script).raise_for_status()

    def stop(self) -> None:
        """Stop the process."""
        self._http.close()
        stop_process(self.process, 5)

    def __enter__(self) -> NodeFarm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_node_farm(secret: str, models: list[str]) -> NodeFarm:
    """Start a farm on a free loopback port and wait until it answers."""
    command = [sys.executable, "-m", "freescode_lsp.testing.node_farm", "--secret", secret, "--models", ",".join(models)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    farm = NodeFarm(process, read_port(process, deadline, "node farm"), secret)
    while True:
        try:
            farm.probe_count()
            return farm
        except httpx.HTTPError:
            if time.monotonic() > deadline or process.poll() is not None:
                farm.stop()
                raise RuntimeError("the node farm did not answer") from None
            time.sleep(0.05)


def main() -> None:
    """Command line: --secret S --models a,b [--port N]; prints `PORT n` once listening on 127.0.0.1."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Many simulated nodes that answer a registry's probes, on 127.0.0.1.")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    app = create_app(args.secret, [model for model in args.models.split(",") if model])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
