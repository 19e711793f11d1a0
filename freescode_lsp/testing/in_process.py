"""The real server in this process, fed JSON-RPC bodies the way pygls' reader feeds them, its output captured.

For tests and benches that measure what handling one message costs the server (time, memory, work), with no
pipe and no other process in between:

    server = InProcessServer()
    await server.initialize({"server": {"diagnostics_enabled": False}})
    server.notify("textDocument/didOpen", {...})      # handled before it returns, as pygls handles it
    answer = await server.request("textDocument/codeAction", {...})
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from freescode_lsp.lsp.server import FreescodeServer, create_server

ANSWER_TIMEOUT_S = 60.0


class CapturedOutput:
    """A writer for pygls' protocol that keeps each message the server sends, decoded."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        """Take one framed message."""
        self.messages.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))

    def close(self) -> None:
        """Nothing to close."""


class InProcessServer:
    """A FreescodeServer with every feature registered, talking through `notify` and `request`."""

    def __init__(self) -> None:
        self.server: FreescodeServer = create_server()
        self.output = CapturedOutput()
        self.server.protocol.set_writer(self.output)
        self._ids = itertools.count(1)

    def feed(self, message: dict[str, Any]) -> None:
        """Hand one message to the protocol exactly as pygls' reader does once it has read the body."""
        body = json.dumps(message)
        protocol = self.server.protocol
        protocol.handle_message(json.loads(body, object_hook=protocol.structure_message))

    def notify(self, method: str, params: Any) -> None:
        """Send a notification; a synchronous handler (document sync) has run when this returns."""
        self.feed({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: Any) -> Any:
        """Send a request and wait for its answer: the result, or RuntimeError with the error it got."""
        ident = next(self._ids)
        self.feed({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        return await self.answer(ident)

    async def answer(self, ident: int | str) -> Any:
        """The answer to an earlier request, once the server has sent it."""
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                for message in self.output.messages:
                    if message.get("id") == ident and "method" not in message:
                        if "error" in message:
                            raise RuntimeError(message["error"].get("message", "error"))
                        return message.get("result")
                await asyncio.sleep(0.001)

    async def initialize(self, options: dict[str, Any] | None = None, encodings: list[str] | None = None) -> Any:
        """initialize (with these initializationOptions) and initialized."""
        general = {"positionEncodings": encodings} if encodings else {}
        capabilities = {"general": general, "textDocument": {"publishDiagnostics": {"versionSupport": True}}}
        result = await self.request("initialize", {"capabilities": capabilities, "initializationOptions": options})
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, language: str = "python", version: int = 1) -> None:
        """textDocument/didOpen."""
        item = {"uri": uri, "languageId": language, "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def change(self, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
        """One incremental textDocument/didChange."""
        where = {"start": {"line": start[0], "character": start[1]}, "end": {"line": end[0], "character": end[1]}}
        changes = [{"range": where, "text": text}]
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes})
