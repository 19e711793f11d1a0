"""A lean HTTP/1.1 client for load generators: persistent connections over asyncio streams, h11 for the protocol.

A load generator on the same cores as the server it measures must cost little per request, or it measures
itself; httpx's pool, timeouts and locks cost several times what h11 on a bare stream does.

pool = KeepAlivePool("127.0.0.1", 8780, size=64)
status, body = await pool.request("POST", "/v1/nodes/n1/heartbeat", b"{}", {"authorization": "Bearer t"})
await pool.close()
"""

from __future__ import annotations

import asyncio

import h11

READ_BYTES = 1 << 18


class Connection:
    """One persistent connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.protocol = h11.Connection(h11.CLIENT)

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """Send one request and read its whole answer: the status and the body."""
        fields = [("host", self.host), ("content-length", str(len(body))), *headers.items()]
        if body:
            fields.append(("content-type", "application/json"))
        out = self.protocol.send(h11.Request(method=method, target=path, headers=fields))
        out += self.protocol.send(h11.Data(data=body)) if body else b""
        out += self.protocol.send(h11.EndOfMessage())
        self.writer.write(out)
        status, chunks = 0, []
        while True:
            event = self.protocol.next_event()
            if event is h11.NEED_DATA:
                self.protocol.receive_data(await self.reader.read(READ_BYTES))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                self.protocol.start_next_cycle()
                return status, b"".join(chunks)
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection")

    def close(self) -> None:
        """Close the stream."""
        self.writer.close()


class KeepAlivePool:
    """Up to `size` persistent connections to one server; a request waits for a free one, a failed one is replaced."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host = host
        self.port = port
        self._free: asyncio.Queue[Connection | None] = asyncio.Queue()
        self._all: list[Connection] = []
        for _ in range(size):
            self._free.put_nowait(None)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """One request on a free connection (opened when needed): the status and the body."""
        connection = await self._free.get()
        try:
            if connection is None:
                reader, writer = await asyncio.open_connection(self.host, self.port)
                connection = Connection(reader, writer, f"{self.host}:{self.port}")
                self._all.append(connection)
            answer = await connection.request(method, path, body, headers or {})
        except BaseException:
            if connection is not None:
                connection.close()
            self._free.put_nowait(None)
            raise
        self._free.put_nowait(connection)
        return answer

    async def close(self) -> None:
        """Close every connection."""
        for connection in self._all:
            connection.close()
