"""A local imitation of the Hugging Face hub's file endpoints, with the misbehaviours a download must survive."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from attrs import define

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOB = hashlib.sha256(b"seed").digest() * 2048 + b"tail of a small fake gguf"
STREAM_CAP = 64 * 1024**2
STREAM_SECONDS = 60.0
Stream = Literal["body", "forever", "drip"]


@define
class Behaviour:
    """How one file is served: what HEAD announces (size, sha256) and how GET sends the bytes."""

    announce: int | None = None
    sha256: str | None = None
    stream: Stream = "body"
    drip_s: float = 0.5


def git_blob_sha1(body: bytes) -> str:
    """The git object id of a file, which the hub gives as the ETag of a file kept in git rather than LFS."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


class FakeHub:
    """`/{repo}/resolve/{revision}/{file}` on one port, LFS file storage on another; files kept in memory."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str], bytes] = {}
        self.lfs_repos: set[str] = set()
        self.behaviour: dict[tuple[str, str], Behaviour] = {}
        self.requests: list[tuple[str, str]] = []
        self.sent: dict[tuple[str, str], int] = {}
        self.hub = self._serve(self._handler(storage=False))
        self.cdn = self._serve(self._handler(storage=True))
        self.endpoint = f"http://127.0.0.1:{self.hub.server_address[1]}"

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server

    def close(self) -> None:
        for server in (self.hub, self.cdn):
            server.shutdown()
            server.server_close()

    def _key_of_blob(self, name: str) -> tuple[str, str] | None:
        return next((key for key in self.files if f"{key[0]}/{key[1]}".replace("/", "~") == name), None)

    def _handler(self, storage: bool) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(with_body=False)

            def do_GET(self) -> None:
                self._answer(with_body=True)

            def _answer(self, with_body: bool) -> None:
                hub.requests.append((("CDN " if storage else "") + self.command, self.path))
                if storage:
                    key = hub._key_of_blob(self.path.rpartition("/")[2])
                    if key is None:
                        self._status(404, {})
                    else:
                        self._send(key, with_body)
                    return
                parts = self.path.split("/", 5)
                if len(parts) < 6 or parts[3] != "resolve":
                    self._status(404, {})
                    return
                key = (f"{parts[1]}/{parts[2]}", parts[5])
                if not any(known == key[0] for known, _ in hub.files):
                    self._status(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
                    return
                if key not in hub.files:
                    self._status(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
                    return
                body = hub.files[key]
                how = hub.behaviour.get(key, Behaviour())
                size = len(body) if how.announce is None else how.announce
                if key[0] in hub.lfs_repos:
                    blob = f"{key[0]}/{key[1]}".replace("/", "~")
                    headers = {
                        "Location": f"http://127.0.0.1:{hub.cdn.server_address[1]}/blobs/{blob}",
                        "X-Repo-Commit": COMMIT,
                        "ETag": '"redirect"',
                        "X-Linked-Etag": f'"{how.sha256 or hashlib.sha256(body).hexdigest()}"',
                        "X-Linked-Size": str(size),
                    }
                    self._status(302, headers)
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{how.sha256 or git_blob_sha1(body)}"')
                if with_body:
                    self._send(key, with_body, headers_started=True)
                    return
                self.send_header("Content-Length", str(size))
                self.end_headers()

            def _send(self, key: tuple[str, str], with_body: bool, headers_started: bool = False) -> None:
                body = hub.files[key]
                how = hub.behaviour.get(key, Behaviour())
                if not headers_started:
                    self.send_response(200)
                if how.stream == "body":
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if with_body:
                    hub.sent[key] = self._stream(body, how)

            def _stream(self, body: bytes, how: Behaviour) -> int:
                """Send the body, or bytes without end, or one byte at a time; bounded, stopped by the client leaving."""
                sent = 0
                until = time.monotonic() + STREAM_SECONDS
                try:
                    if how.stream == "body":
                        self.wfile.write(body)
                        return len(body)
                    block = (body * (65536 // max(len(body), 1) + 1))[:65536] if how.stream == "forever" else body[:1]
                    while sent < STREAM_CAP and time.monotonic() < until:
                        self.wfile.write(block)
                        self.wfile.flush()
                        sent += len(block)
                        if how.stream == "drip":
                            time.sleep(how.drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return sent

            def _status(self, code: int, headers: dict[str, str]) -> None:
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler
