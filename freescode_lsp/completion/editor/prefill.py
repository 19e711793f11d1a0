"""While the user pauses, the local completion lane's cache is filled with the text above the cursor.

A pause is PAUSE_S without news after a document opened (the cursor is taken to be at its top), after a change
(the cursor is where the change ended) or after a suggestion was shown. Only when completion is on for the
document and the `complete` model runs on the local engine first. One fill runs at a time; any newer event or
request stops it within a batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from freescode_lsp.completion.cursor import cursor_at
from freescode_lsp.completion.editor.context import request_at
from freescode_lsp.completion.task.request import PREFIX_CHARS, TASK
from freescode_lsp.engines.base import EngineError
from freescode_lsp.lsp.features.documents import UnusableDocument, language_for, open_document
from freescode_lsp.lsp.protocol.text_documents import chunks_of, text_head

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.engines.local.engine import LocalEngine
    from freescode_lsp.lsp.server import FreescodeServer

log = logging.getLogger(__name__)
PAUSE_S = 0.3


def end_of_change(document: TextDocument, change: types.TextDocumentContentChangeEvent) -> types.Position | None:
    """Where the cursor is after a change: the end of the text it put in (None for a whole-document change)."""
    if not isinstance(change, types.TextDocumentContentChangePartial):
        return None
    start = change.range.start
    *above, last = change.text.split("\n")
    units = document.position_codec.client_num_units(last)
    return types.Position(start.line + len(above), (start.character if not above else 0) + units)


def top_of(document: TextDocument) -> types.Position:
    """The cursor taken for a document just opened: the end of the first prompt window, where editors open it."""
    return types.Position(text_head(document, PREFIX_CHARS).count("\n"), 0)


class Prefill:
    """The one fill of the cache that is waiting for a pause or running."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.task: asyncio.Task[int] | None = None
        self.filled = 0

    def stop(self) -> None:
        """Stop the waiting or running fill (a request or newer news came)."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None

    def opened(self, uri: str) -> None:
        """A document opened: fill its top at the next pause."""
        document = self._document(uri)
        if document is not None:
            self.after_pause(uri, top_of(document))

    def changed(self, uri: str, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """A document changed: fill up to where the change ended, at the next pause."""
        document = self._document(uri)
        position = end_of_change(document, changes[-1]) if document is not None and changes else None
        if position is not None:
            self.after_pause(uri, position)

    def after_pause(self, uri: str, position: types.Position) -> None:
        """Fill the cache for this cursor once the user has paused (a newer call replaces this one)."""
        self.stop()
        if self._local_engine() is not None:
            self.task = asyncio.get_running_loop().create_task(self._fill(uri, position))

    async def idle(self) -> None:
        """Wait until no fill is waiting or running."""
        while self.task is not None and not self.task.done():
            await asyncio.wait([self.task])

    def _document(self, uri: str) -> TextDocument | None:
        try:
            document = open_document(self.server, uri)
        except UnusableDocument:
            return None
        return document if self.server.settings.completion.enabled_for(language_for(document)) else None

    def _local_engine(self) -> tuple[LocalEngine, str] | None:
        """The local engine and model when the `complete` task runs there first and its lane has the model loaded."""
        if not self.server.settings.completion.enabled:
            return None
        router = self.server.get_router()
        local = router.local
        if local is None or local.lane is None:
            return None
        model = router.effective_model(TASK)
        if model not in local.lane.pool.loaded():
            return None
        candidates = router.candidates_for_model(model)
        return (local, model) if candidates and candidates[0].where == "local" else None

    async def _fill(self, uri: str, position: types.Position) -> int:
        from freescode_lsp.engines.local.prefill import prefill

        await asyncio.sleep(PAUSE_S)
        found = self._local_engine()
        document = self._document(uri)
        if found is None or document is None:
            return 0
        engine, model = found
        request = request_at(self.server, uri, cursor_at(chunks_of(document), position), language_for(document), model)
        try:
            evaluated = await prefill(engine, request)
        except EngineError as exc:
            log.info("completion prefill failed: %s", exc)
            return 0
        self.filled += evaluated
        return evaluated
