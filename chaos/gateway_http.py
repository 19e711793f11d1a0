"""Raw HTTP for the gateway campaign: request targets sent byte for byte, and the spellings that try other paths."""

from __future__ import annotations

import socket

SERVED_PATHS = frozenset(
    {
        ("GET", "/v1/models"),
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/completions"),
    }
)
RAW_TIMEOUT_S = 15.0

TRICKS: list[tuple[str, str]] = [
    ("POST", "/v1/../api/pull"),
    ("POST", "/v1/%2e%2e/api/pull"),
    ("POST", "/v1/%2E%2E/api/delete"),
    ("POST", "/v1/..%2fapi/pull"),
    ("POST", "/v1/..%2Fapi%2Fgenerate"),
    ("POST", "/v1/%2e%2e%2f%2e%2e%2fapi/pull"),
    ("POST", "/v1/.%2e/api/pull"),
    ("POST", "/v1/%252e%252e/api/pull"),
    ("POST", "/v1/chat/../../api/pull"),
    ("POST", "/v1/chat/completions/../../../slots/0?action=save"),
    ("POST", "/v1//../api/pull"),
    ("POST", "//v1/../api/pull"),
    ("POST", "/v1/./../completion"),
    ("POST", "/v1/..\\api\\pull"),
    ("POST", "/v1/..%5capi%5cpull"),
    ("POST", "/V1/../api/pull"),
    ("POST", "/v1/Chat/Completions"),
    ("POST", "/v1/COMPLETIONS"),
    ("POST", "/v1/chat/completions;/../../api/pull"),
    ("POST", "/v1/completions%00/../../tokenize"),
    ("POST", "/v1/chat/completions/extra"),
    ("POST", "/v1/completions/tokenize"),
    ("POST", "/v1/embeddings"),
    ("POST", "/v1/load_lora_adapter"),
    ("POST", "/v1/chat%2fcompletions/..%2f..%2f..%2fapi%2fpull"),
    ("POST", "http://127.0.0.1/v1/../api/pull"),
    ("POST", "/v1/models"),
    ("GET", "/v1/../slots"),
    ("GET", "/v1/%2e%2e/props"),
    ("GET", "/v1/models/../../metrics"),
    ("GET", "/v1/models/%2e%2e/%2e%2e/health"),
    ("GET", "/v1/models/stub-model"),
    ("GET", "/v1/..;/slots"),
    ("GET", "/v1/chat/completions"),
    ("DELETE", "/v1/models"),
    ("PUT", "/v1/chat/completions"),
    ("POST", "/v1/chat%2fcompletions"),
    ("POST", "/v1/chat/./completions/"),
]


def raw_status(port: int, method: str, target: str, body: bytes = b"") -> int:
    """Send one request with its target exactly as given, on a fresh loopback connection; the answer's status."""
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=RAW_TIMEOUT_S) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    parts = answer.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError(f"no HTTP status line in {answer[:80]!r}")
    return int(parts[1])
