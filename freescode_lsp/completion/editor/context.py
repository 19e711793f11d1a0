"""The `complete` request at a cursor, with what inline completion reads beyond the cursor's file: the definitions
its code uses from the other open Python documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cachetools import LRUCache

from freescode_lsp.completion.neighbours import Definition, block, definitions
from freescode_lsp.completion.task.request import completion_request, prefix_window
from freescode_lsp.lsp.features.documents import language_for
from freescode_lsp.lsp.protocol.text_documents import file_name, find_document, text_size

if TYPE_CHECKING:
    from freescode_lsp.completion.cursor import Cursor
    from freescode_lsp.engines.base import GenerationRequest
    from freescode_lsp.lsp.server import FreescodeServer

MAX_DOCUMENTS = 64
MAX_SOURCE_BYTES = 100_000  # larger modules are not parsed for their definitions
_PARSED: LRUCache[tuple[str, int | None], list[Definition]] = LRUCache(maxsize=MAX_DOCUMENTS)


def neighbour_code(server: FreescodeServer, uri: str, code: str) -> str:
    """Comment lines with what `code` uses from the other open Python documents (empty when nothing)."""
    known: dict[str, Definition] = {}
    here = find_document(server.workspace, uri)
    for document in list(server.workspace.text_documents.values()):
        if document is here or language_for(document) != "python" or text_size(document) > MAX_SOURCE_BYTES:
            continue
        key = (document.uri, document.version)
        parsed = _PARSED.get(key)
        if parsed is None:
            parsed = _PARSED[key] = definitions(document.source, file_name(document.uri))
        for found in parsed:
            known.setdefault(found.name, found)
    return block(known, code) if known else ""


def request_at(server: FreescodeServer, uri: str, cursor: Cursor, language: str, model: str) -> GenerationRequest:
    """The `complete` request at the cursor, with what its code uses from the other open documents."""
    context = neighbour_code(server, uri, prefix_window(cursor)) if language == "python" else ""
    return completion_request(model, cursor, server.settings.completion.max_tokens, language, context)
