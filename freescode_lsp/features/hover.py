"""Hover: an explanation of the code unit from the analyze model, cached by content.

A hover waits at most `hover_timeout_s` for the model. Past that it answers with what is cached or
nothing, and the explanation keeps coming in the background (one fetch per content) for the next
hover. A failed fetch is remembered for FAILURE_MEMORY_S so that a dead node is not asked on every hover.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from attrs import define, field
from cachetools import LRUCache, TTLCache
from lsprotocol import types

from freescode_lsp.features import status
from freescode_lsp.features.diagnostics import content_key, plain_lines, task_item
from freescode_lsp.features.documents import (
    UnusableDocument,
    language_for,
    open_document,
)
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.runner import run_text
from freescode_lsp.tasks.units import enclosing_unit

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

log = logging.getLogger(__name__)

CACHE_SIZE = 512
FAILURE_MEMORY_S = 30.0
BRAND = "Free-S_Code"


@define(frozen=True)
class Explanation:
    """The analyze model's text for one unit, and the model that wrote it."""

    model: str
    text: str


@define
class HoverState:
    """Per server: explanations by content, recent failures, and fetches in flight."""

    cache: LRUCache[str, Explanation] = field(factory=lambda: LRUCache(maxsize=CACHE_SIZE))
    failed: TTLCache[str, str] = field(factory=lambda: TTLCache(maxsize=CACHE_SIZE, ttl=FAILURE_MEMORY_S))
    fetching: dict[str, asyncio.Task[Explanation | None]] = field(factory=dict)


_STATES: weakref.WeakKeyDictionary[FreescodeServer, HoverState] = weakref.WeakKeyDictionary()


def _state(server: FreescodeServer) -> HoverState:
    state = _STATES.get(server)
    if state is None:
        state = _STATES[server] = HoverState()
    return state


async def _fetch(server: FreescodeServer, key: str, item: TaskInput, model: str) -> Explanation | None:
    """Ask the analyze model once; cache the answer, or remember the failure for a while."""
    state = _state(server)
    try:
        outcome = await run_text(server.get_router(), item, model, None, server.settings.server.max_tokens)
        status.report(server, outcome, "done" if outcome.text else "failed")
        if outcome.text is None:
            state.failed[key] = outcome.problem or "no explanation"
            return None
        explanation = Explanation(outcome.model or model, outcome.text)
        state.cache[key] = explanation
        return explanation
    except Exception as exc:  # noqa: BLE001 - a failed explanation is no hover, not a server error
        log.exception("hover explanation failed")
        state.failed[key] = str(exc)
        return None
    finally:
        state.fetching.pop(key, None)


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
    return task_item("analyze", lines, language, unit.start, unit.end), types.Range(types.Position(unit.start, 0), end)


async def explain(server: FreescodeServer, params: types.HoverParams) -> types.Hover | None:
    """The explanation of the unit under the cursor, if cached or ready within hover_timeout_s."""
    settings = server.settings.server
    target = _target(server, params) if settings.hover_enabled else None
    if target is None:
        return None
    item, unit_range = target
    model = server.get_router().effective_model("analyze")
    key = content_key(model, item.language, item.code)
    state = _state(server)
    explanation = state.cache.get(key)
    if explanation is None:
        if key in state.failed:
            return None
        fetch = state.fetching.get(key)
        if fetch is None:
            fetch = state.fetching[key] = asyncio.get_running_loop().create_task(_fetch(server, key, item, model))
        try:
            explanation = await asyncio.wait_for(asyncio.shield(fetch), settings.hover_timeout_s)
        except TimeoutError:
            return None
    if explanation is None:
        return None
    return types.Hover(contents=_markup(server, explanation), range=unit_range)


def register(server: FreescodeServer) -> None:
    """Register textDocument/hover."""

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: FreescodeServer, params: types.HoverParams) -> types.Hover | None:
        """Explain the code unit under the cursor with the analyze model."""
        return await explain(ls, params)
