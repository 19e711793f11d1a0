"""A document's lines as diagnostics and hover see them: plain lines, code pieces, and content keys."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from freescode_lsp.edits import split_lines
from freescode_lsp.lsp.protocol.text_documents import LspTextDocument

if TYPE_CHECKING:
    from pygls.workspace import TextDocument


def content_key(*parts: str) -> str:
    """sha256 over the parts, NUL-separated (cache keys: model, language, code)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def plain_lines(document: TextDocument) -> tuple[str, ...]:
    """The document's lines without terminators, split only where LSP splits (not on form feeds); an open
    document splits them once per change, however many features ask."""
    if isinstance(document, LspTextDocument):
        return document.plain_lines
    return tuple(split_lines(document.source))


def code_of(lines: Sequence[str]) -> str:
    """Lines joined back into code, each ending with a newline."""
    return "".join(line + "\n" for line in lines)
