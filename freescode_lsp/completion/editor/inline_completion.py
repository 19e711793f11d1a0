"""textDocument/inlineCompletion: fill-in-the-middle ghost text from the `complete` task's model.

Each document has a lane: a newer request supersedes the one before it at once (its generation stops within a
token and its answer is dropped), and a request waits at least `debounce_ms` (longer while the user types at a
steady pace) before it starts a model, so a burst of keystrokes starts one generation, at the pause. An invoked
request waits `debounce_ms` too, not longer: a $/cancelRequest sent right behind it is read during that wait,
and a request cancelled or superseded before its wait ends never starts a model. A user typing the start of the
last suggestion gets the rest without a model call. `$/cancelRequest` cancels the handler, and with it the
generation it awaits. Generation is capped by time as well as tokens: after GENERATION_BUDGET_S the suggestion is
what has come. While the user pauses, the local model's cache is filled with the text above the cursor
(`completion_prefill.py`); a request stops that first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from attrs import define, field
from cachetools import LRUCache
from lsprotocol import types

from freescode_lsp.completion.budget import GENERATION_BUDGET_S
from freescode_lsp.completion.cursor import Cursor, cursor_at, in_file_endings
from freescode_lsp.completion.debounce import Debounce
from freescode_lsp.completion.dedupe import polish
from freescode_lsp.completion.editor.context import request_at
from freescode_lsp.completion.editor.prefill import Prefill
from freescode_lsp.completion.task.request import TASK, stop_rule
from freescode_lsp.completion.typing_through import ShownSuggestions
from freescode_lsp.engines.base import EngineError
from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.document_sync import DocumentSubscriber
from freescode_lsp.lsp.features.documents import UnusableDocument, language_for, open_document
from freescode_lsp.lsp.protocol.text_documents import chunks_of
from freescode_lsp.tasks.runner import TaskOutcome

if TYPE_CHECKING:
    from freescode_lsp.config import CompletionSettings
    from freescode_lsp.lsp.server import FreescodeServer

log = logging.getLogger(__name__)
MAX_DOCUMENTS = 64


@define
class DocumentLane:
    """One document's latest request and the generation running for it."""

    ticket: int = 0
    generation: asyncio.Task[str] | None = None
    debounce: Debounce = field(factory=Debounce)

    def supersede(self) -> int:
        """A new request: stop the running generation; the returned ticket tells whether a newer one came."""
        self.ticket += 1
        if self.generation is not None and not self.generation.done():
            self.generation.cancel()
        self.generation = None
        return self.ticket


@define
class CompletionState:
    """Per server: the lanes, the last suggestion per document, and how many generations were started."""

    lanes: LRUCache[str, DocumentLane] = field(factory=lambda: LRUCache(maxsize=MAX_DOCUMENTS))
    shown: ShownSuggestions = field(factory=ShownSuggestions)
    generations: int = 0

    def lane(self, uri: str) -> DocumentLane:
        """The document's lane, made on first use."""
        lane = self.lanes.get(uri)
        if lane is None:
            lane = self.lanes[uri] = DocumentLane()
        return lane


def state_of(server: FreescodeServer) -> CompletionState:
    """The server's completion state."""
    return server.features.inline_completion.state


async def suggest(server: FreescodeServer, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
    """The suggestion at the cursor: the rest of the last one when typed through, else the model's."""
    options = server.settings.completion
    uri = params.text_document.uri
    if not options.enabled:
        return None
    try:
        document = open_document(server, uri)
    except UnusableDocument:
        return None
    language = language_for(document)
    if not options.enabled_for(language):
        return None
    prefill = server.features.inline_completion.prefill
    prefill.stop()
    version = document.version
    cursor = cursor_at(chunks_of(document), params.position)
    state = state_of(server)
    lane = state.lane(uri)
    ticket = lane.supersede()
    least = options.debounce_ms / 1000
    wait = lane.debounce.wait(time.monotonic(), least)
    rest = state.shown.rest(uri, cursor.before, cursor.after)
    if rest is not None:
        return _answer(cursor, rest)
    if params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked:
        wait = min(wait, least)
    if wait > 0:
        await asyncio.sleep(wait)
        if lane.ticket != ticket:
            return None
    generation = asyncio.get_running_loop().create_task(_generate(server, uri, cursor, options, language))
    lane.generation = generation
    try:
        text = await generation
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        return None
    if lane.ticket != ticket or document.version != version:
        return None
    state.shown.remember(uri, cursor.before, cursor.after, text)
    prefill.after_pause(uri, cursor.position)
    return _answer(cursor, text)


async def _generate(server: FreescodeServer, uri: str, cursor: Cursor, options: CompletionSettings, language: str) -> str:
    """Stream the model's suggestion until the stop rule ends it; the stream is closed (the model stops) at once."""
    router = server.get_router()
    model = router.effective_model(TASK)
    request = request_at(server, uri, cursor, language, model)
    rule = stop_rule(cursor, options.max_lines)
    state = state_of(server)
    state.generations += 1
    status.report_progress(server, TASK, model, "running")
    outcome, tokens, served_by, first_at = "cancelled", 0, model, None
    try:
        async with contextlib.aclosing(router.stream(request, TASK)) as chunks:
            async for chunk in chunks:
                served_by = chunk.model or served_by
                tokens += 1 if chunk.text else 0
                first_at = first_at or time.monotonic()
                if rule.feed(chunk.text) or time.monotonic() - first_at > GENERATION_BUDGET_S:
                    break
        outcome = "done"
    except EngineError as exc:
        outcome = "failed"
        log.info("completion failed: %s", exc)
        return ""
    except Exception:
        outcome = "failed"
        raise
    finally:
        status.report_progress(server, TASK, served_by, outcome, tokens)
    server.features.fallbacks.explain(TaskOutcome(TASK, model, model=served_by), log_repeats=False)
    return polish(rule.result(), cursor.after, cursor.line_before)


def _answer(cursor: Cursor, text: str) -> types.InlineCompletionList:
    """The suggestion as one item inserted at the cursor, in the file's line endings; none when empty."""
    if not text:
        return types.InlineCompletionList(items=[])
    at = types.Range(cursor.position, cursor.position)
    return types.InlineCompletionList(items=[types.InlineCompletionItem(in_file_endings(text, cursor.newline), range=at)])


class InlineCompletion(DocumentSubscriber):
    """The inline completion feature and its state, which follows its documents: a closed one stops its model."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.state = CompletionState()
        self.prefill = Prefill(server)

    def opened(self, uri: str, version: int | None) -> None:
        """Fill the model's cache with the document's top at the next pause."""
        self.prefill.opened(uri)

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """Fill the model's cache up to the change at the next pause."""
        self.prefill.changed(uri, changes)

    def closed(self, uri: str) -> None:
        """Stop the document's generation and forget its last suggestion."""
        self.forget(uri)

    def lost(self, uri: str, reason: str) -> None:
        """The server's copy may be wrong: the same as a close."""
        self.forget(uri)

    def forget(self, uri: str) -> None:
        """Drop the document's lane (its running generation stops) and its last suggestion."""
        lane = self.state.lanes.pop(uri, None)
        if lane is not None:
            lane.supersede()
        self.state.shown.forget(uri)

    def register(self) -> None:
        """Register textDocument/inlineCompletion (advertised as inlineCompletionProvider) and follow document sync."""
        self.server.features.documents.subscribe(self)

        @self.server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
        async def on_inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
            """Ghost text at the cursor from the `complete` model."""
            return await suggest(self.server, params)
