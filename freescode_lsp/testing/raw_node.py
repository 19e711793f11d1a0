"""Hostile "nodes" for registry tests: a threaded raw TCP server on 127.0.0.1 that answers badly on purpose.

    with RawNode("drip") as node:      # headers at once, then the body at 1 byte a second
        node.url                       # http://127.0.0.1:<port>
        node.connections               # connections accepted so far

Behaviours: "drip" (1 byte/s), "huge" (a /v1/models answer of `size` bytes, sent fast), "banner"
(500 with a `size`-character text body, like a non-HTTP service's greeting), "missing" (404 at once),
"silent" (accepts and says nothing) and "canned" (sends the bytes given as `answer`, then closes).
"""

from __future__ import annotations

import socket
import threading
import time

BANNER_WORD = "SSH-2.0-OpenSSH_9.6 secret-banner "


class RawNode:
    """A loopback TCP server that answers every connection with one hostile behaviour."""

    def __init__(self, behaviour: str, size: int = 100 * 1024 * 1024, answer: bytes = b"") -> None:
        self.behaviour = behaviour
        self.size = size
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(256)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self) -> RawNode:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting; connections still open end at their next write."""
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = self._read_head(conn)
                with self._lock:
                    self.requests.append(request)
                getattr(self, f"_{self.behaviour}")(conn)
            except OSError:
                return

    def _read_head(self, conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def _drip(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not self._closed.is_set():
            conn.sendall(b" ")
            time.sleep(1.0)

    def _huge(self, conn: socket.socket) -> None:
        head = b'{"object": "list", "data": ['
        item = b'{"id": "mistral-7b", "object": "model"},'
        block = item * (1024 * 1024 // len(item))
        tail = b'{"id": "end"}]}'
        body_size = len(head) + (self.size // len(block)) * len(block) + len(tail)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        conn.sendall(f"Content-Length: {body_size}\r\n\r\n".encode() + head)
        for _ in range(self.size // len(block)):
            conn.sendall(block)
        conn.sendall(tail)

    def _banner(self, conn: socket.socket) -> None:
        text = (BANNER_WORD * (self.size // len(BANNER_WORD) + 1))[: self.size].encode()
        conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Type: text/plain\r\n")
        conn.sendall(f"Content-Length: {len(text)}\r\n\r\n".encode() + text)

    def _missing(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def _canned(self, conn: socket.socket) -> None:
        conn.sendall(self.answer)

    def _silent(self, conn: socket.socket) -> None:
        self._closed.wait(30)


def open_slow(port: int, first: bytes) -> socket.socket:
    """A connection to a server on 127.0.0.1 that has sent only `first`."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(first)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end has closed the connection."""
    sock.settimeout(0.01)
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except OSError:
        return True
