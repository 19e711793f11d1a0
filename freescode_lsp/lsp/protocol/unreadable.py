"""What can still be learned from a message that could not be read: its id, its method and its document."""

from __future__ import annotations

import json
from typing import Any

from attrs import frozen

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


@frozen
class Unreadable:
    """A message pygls could not read, with whatever of it is still known."""

    code: int
    reason: str
    id: int | str | None = None
    method: str | None = None
    uri: str | None = None

    def answer(self) -> dict[str, Any]:
        """The JSON-RPC error response; the id is null unless it was read without doubt."""
        what = "Parse error" if self.code == PARSE_ERROR else "Invalid Request"
        return {"jsonrpc": "2.0", "id": self.id, "error": {"code": self.code, "message": f"{what}: {self.reason}"}}

    def changes_a_document(self) -> bool:
        """Whether an edit to a document was lost, so the server's copy may now differ from the editor's."""
        return self.id is None and self.uri is not None and self.method == "textDocument/didChange"


def diagnose(error: Exception) -> Unreadable | None:
    """The unreadable message behind a decoding error, or None for errors that are not about the message."""
    if isinstance(error, UnicodeDecodeError) and isinstance(error.object, (bytes, bytearray)):
        body = bytes(error.object)
        reason = f"the message is not valid UTF-8 (byte {body[error.start]:#04x} at offset {error.start})"
        return _with_fields(Unreadable(PARSE_ERROR, reason), body.decode("utf-8", errors="replace"))
    if isinstance(error, ValueError):
        return Unreadable(PARSE_ERROR, str(error))
    if isinstance(error, (TypeError, AttributeError, KeyError)):
        return Unreadable(INVALID_REQUEST, str(error))
    return None


def _with_fields(found: Unreadable, text: str) -> Unreadable:
    """Add the id, method and document uri when the text, with bad bytes replaced, is a JSON-RPC object."""
    try:
        data = json.loads(text)
    except ValueError:
        return found
    if not isinstance(data, dict):
        return found
    params: dict[str, Any] = data["params"] if isinstance(data.get("params"), dict) else {}
    document: dict[str, Any] = params["textDocument"] if isinstance(params.get("textDocument"), dict) else {}
    ident = data.get("id")
    return Unreadable(
        found.code,
        found.reason,
        ident if isinstance(ident, (int, str)) and not isinstance(ident, bool) else None,
        data.get("method") if isinstance(data.get("method"), str) else None,
        document.get("uri") if isinstance(document.get("uri"), str) else None,
    )
