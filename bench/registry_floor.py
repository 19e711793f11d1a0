"""The registry bench's floor: the registry's own HTTP stack answering constants, with no store behind it.

`python -m bench.registry_floor HOSTS` serves on a free loopback port and prints `PORT n`. The same uvicorn
protocol (its parser and the registry's deadlines), event loop, Starlette app and registry header as
`freescode registry serve`; each heartbeat's body is read and parsed and answered with a constant renewal;
listings are constants of the registry's shape and size (HOSTS hosts spread over the bench's four models).
Under the bench's load its latencies are what this machine, the load generator and the HTTP stack cost alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from freescode_lsp.mesh.registry.app import MarkedAsRegistry
from freescode_lsp.mesh.registry.directory import model_json
from freescode_lsp.mesh.registry.records import CatalogModel
from freescode_lsp.mesh.serving import QuietServer, bind, serve_on_fast_loop
from freescode_lsp.mesh.serving_deadlines import Deadlines, deadline_protocol, fast_base
from freescode_lsp.testing.processes import read_port
from freescode_lsp.testing.registry_process import RegistryProcess

STARTUP_TIMEOUT_S = 30.0
MODELS = ["mistral-7b", "code-llama-7b", "starcoder2-15b", "deepseek-coder-6.7b"]


def model_bodies(hosts: int) -> dict[str, bytes]:
    """Each model's answer, `hosts` hosts spread over the models, in the registry's shape; "" is the whole listing."""
    catalog = [CatalogModel(id=model, context=4096, price_per_1k=0.001, specialties=()) for model in MODELS]
    bodies = {}
    for number, model in enumerate(catalog):
        listed = [
            {
                "url": f"http://127.0.0.1:40000/op{index % 100}/node-{index}",
                "price_per_1k": 0.001,
                "context": 4096,
                "load": 0.25,
                "ttft_ms": 90.0,
                "tokens_per_s": 40.0,
                "last_seen": 1765000000.0 + index,
            }
            for index in range(number, hosts, len(catalog))
        ]
        bodies[model.id] = json.dumps(model_json(model, listed), separators=(",", ":")).encode()
    bodies[""] = b'{"object":"list","data":[' + b",".join(bodies[model] for model in MODELS) + b"]}"
    return bodies


def app(hosts: int) -> Starlette:
    """The floor's routes, the registry's paths."""
    bodies = model_bodies(hosts)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def models(request: Request) -> Response:
        return Response(bodies[""], media_type="application/json")

    async def model(request: Request) -> Response:
        return Response(bodies.get(request.path_params["model_id"], b"{}"), media_type="application/json")

    async def heartbeat(request: Request) -> Response:
        json.loads(await request.body() or b"{}")
        return JSONResponse({"node_id": request.path_params["node_id"], "lease_s": 30.0})

    routes = [
        Route("/health", health),
        Route("/v1/models", models),
        Route("/v1/models/{model_id}", model),
        Route("/v1/nodes/{node_id}/heartbeat", heartbeat, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(MarkedAsRegistry)])


def start_floor(hosts: int) -> RegistryProcess:
    """Start the floor server, listing `hosts` hosts, in a child process and wait for its port."""
    command = [sys.executable, "-m", "bench.registry_floor", str(hosts)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    port = read_port(process, time.monotonic() + STARTUP_TIMEOUT_S, "registry floor")
    return RegistryProcess(process, port, db=None)  # type: ignore[arg-type]


def main() -> None:
    """Serve the floor until SIGTERM."""
    sock = bind("127.0.0.1", 0)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    protocol = deadline_protocol(Deadlines(), fast_base())
    config = uvicorn.Config(
        app(int(sys.argv[1])), http=protocol, log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    serve_on_fast_loop(QuietServer(config), sock)


if __name__ == "__main__":
    main()
