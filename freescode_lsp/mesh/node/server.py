"""Running a node gateway under uvicorn on a socket bound beforehand, behind deadlines and connection caps."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from freescode_lsp.mesh.node.gateway import Gateway
from freescode_lsp.mesh.node.proxy import HideBrokenStreams
from freescode_lsp.mesh.serving import QuietServer
from freescode_lsp.mesh.serving_deadlines import Deadlines
from freescode_lsp.mesh.serving_guard import ConnectionLimits, guarded_protocol

KEEP_ALIVE_S = 5


def serve(gateway: Gateway, sock: socket.socket, deadlines: Deadlines, limits: ConnectionLimits) -> None:
    """Serve until SIGINT or SIGTERM; on the way out the gateway deregisters."""
    logging.getLogger("uvicorn.error").addFilter(HideBrokenStreams())
    protocol = guarded_protocol(deadlines, limits, gateway.connections)
    config = uvicorn.Config(
        gateway.starlette(),
        http=protocol,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=limits.backlog,
        timeout_graceful_shutdown=5,
    )
    asyncio.run(QuietServer(config).serve(sockets=[sock]))
