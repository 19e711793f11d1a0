"""Running a node gateway under uvicorn on a socket bound beforehand."""

from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from freescode_lsp.mesh.node.gateway import Gateway
from freescode_lsp.mesh.node.proxy import HideBrokenStreams
from freescode_lsp.mesh.serving import QuietServer


def serve(gateway: Gateway, sock: socket.socket) -> None:
    """Serve until SIGINT or SIGTERM; on the way out the gateway deregisters."""
    logging.getLogger("uvicorn.error").addFilter(HideBrokenStreams())
    config = uvicorn.Config(gateway.starlette(), log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    asyncio.run(QuietServer(config).serve(sockets=[sock]))
