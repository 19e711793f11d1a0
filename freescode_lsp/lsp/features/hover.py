"""Hover: an explanation of the code unit from the analyze model, cached by content.

A hover waits at most `hover_timeout_s` for the model. Past that it answers with what is cached or
nothing, and the explanation keeps coming in the background (one fetch per content) for the next
hover. A failed fetch is remembered for FAILURE_MEMORY_S so that a dead node is not asked on every hover.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from attrs import define
from cachetools import LRUCache, TTLCache
from lsprotocol import types

from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.documents import UnusableDocument, language_for, open_document
from freescode_lsp.lsp.features.lines import content_key, plain_lines
from freescode_lsp.task_table import task_shown_in
from freescode_lsp.tasks.inputs import lines_input
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.runner import run_task
from freescode_lsp.tasks.units import enclosing_unit

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer

TASK = task_shown_in("hover").id
log = logging.getLogger(__name__)

CACHE_SIZE = 512
FAILURE_MEMORY_S = 30.0
BRAND = "Free-S_Code"


@define(frozen=True)
class Explanation:
    """The analyze model's text for one unit, and the model that wrote it."""

    model: str
    text: str


class Hover:
    """The hover feature: explanations by content, recent failures, and fetches in flight."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.cache: LRUCache[str, Explanation] = LRUCache(maxsize=CACHE_SIZE)
        self.failed: TTLCache[str, str] = TTLCache(maxsize=CACHE_SIZE, ttl=FAILURE_MEMORY_S)
        self.fetching: dict[str, asyncio.Task[Explanation | None]] = {}

    def register(self) -> None:
        """Register textDocument/hover."""

        @self.server.feature(types.TEXT_DOCUMENT_HOVER)
        async def on_hover(params: types.HoverParams) -> types.Hover | None:
            return await self.explain(params)

    async def explain(self, params: types.HoverParams) -> types.Hover | None:
        """The explanation of the unit under the cursor, if cached or ready within hover_timeout_s."""
        server = self.server
        settings = server.settings.server
        target = _target(server, params) if settings.hover_enabled else None
        if target is None:
            return None
        item, unit_range = target
        model = server.get_router().effective_model(TASK)
        key = content_key(model, item.language, item.code)
        explanation = self.cache.get(key)
        if explanation is None:
            if key in self.failed:
                return None
            fetch = self.fetching.get(key)
            if fetch is None:
                fetch = self.fetching[key] = asyncio.get_running_loop().create_task(self._fetch(key, item, model))
            try:
                explanation = await asyncio.wait_for(asyncio.shield(fetch), settings.hover_timeout_s)
            except TimeoutError:
                return None
        if explanation is None:
            return None
        return types.Hover(contents=_markup(server, explanation), range=unit_range)

    async def _fetch(self, key: str, item: TaskInput, model: str) -> Explanation | None:
        """Ask the analyze model once; cache the answer, or remember the failure for a while."""
        server = self.server
        try:
            outcome = await run_task(server.get_router(), item, model, None, server.settings.server.max_tokens)
            status.report(server, outcome, "done" if outcome.text else "failed")
            if outcome.text is None:
                self.failed[key] = outcome.problem or "no explanation"
                return None
            explanation = Explanation(outcome.model or model, outcome.text)
            self.cache[key] = explanation
            return explanation
        except Exception as exc:
            log.exception("hover explanation failed")
            self.failed[key] = str(exc)
            return None
        finally:
            self.fetching.pop(key, None)


def _markup(server: FreescodeServer, explanation: Explanation) -> types.MarkupContent:
    """Markdown with a header naming the model, or plain text for clients without Markdown."""
    text_document = server.client_capabilities.text_document
    formats = text_document.hover.content_format if text_document and text_document.hover else None
    if formats and types.MarkupKind.Markdown not in formats:
        return types.MarkupContent(types.MarkupKind.PlainText, f"{BRAND} · {explanation.model}\n\n{explanation.text}")
    return types.MarkupContent(types.MarkupKind.Markdown, f"**{BRAND}** · {explanation.model}\n\n{explanation.text}")


def _target(server: FreescodeServer, params: types.HoverParams) -> tuple[TaskInput, types.Range] | None:
    """The analyze input for the unit under the cursor and the unit's range; None over blank lines."""
    try:
        document = open_document(server, params.text_document.uri)
    except UnusableDocument:
        return None
    lines = plain_lines(document)
    line = params.position.line
    if line >= len(lines) or not lines[line].strip():
        return None
    language = language_for(document)
    unit = enclosing_unit(document.source, line, language)
    if not 0 <= unit.start < unit.end <= len(lines):
        return None
    end = types.Position(unit.end - 1, document.position_codec.client_num_units(lines[unit.end - 1]))
    return lines_input(TASK, lines, language, unit.start, unit.end), types.Range(types.Position(unit.start, 0), end)
