"""Diagnostics: Python syntax errors at once, model findings (debug task) on save and when idle.

Findings are kept per piece of code, keyed by its text: code that changes or vanishes loses its
findings, code that moves keeps them at its new place. Automatic runs check the code units not
checked yet (at most MAX_UNITS_PER_RUN, nearest the last edit first; the rest wait for the next
save or idle time) and skip a Python file that does not compile: its syntax error is what the user
needs first. Files over SYNTAX_AT_ONCE_MAX_CHARS get their syntax checked on save and when idle
only, since compiling them on every keystroke would stall the server.
`diagnostics_enabled = false` publishes nothing automatically, not even syntax errors; "Find bugs"
still runs when asked. `diagnostics_idle_s = 0` turns idle runs off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from attrs import define, field
from cachetools import LRUCache
from lsprotocol import types

from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.document_sync import DocumentSubscriber
from freescode_lsp.lsp.features.documents import UnusableDocument, language_for, open_document
from freescode_lsp.lsp.features.findings import Answer, Checked, Found, finding_diagnostics
from freescode_lsp.lsp.features.lines import code_of, content_key, plain_lines
from freescode_lsp.lsp.features.syntax import syntax_diagnostics
from freescode_lsp.lsp.features.task_result import TaskResult
from freescode_lsp.lsp.protocol.text_documents import find_document
from freescode_lsp.task_table import task_shown_in
from freescode_lsp.tasks.inputs import lines_input
from freescode_lsp.tasks.runner import run_findings
from freescode_lsp.tasks.units import CodeUnit, units_in

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.lsp.server import FreescodeServer

TASK = task_shown_in("diagnostics").id
log = logging.getLogger(__name__)

MAX_UNITS_PER_RUN = 8
SYNTAX_AT_ONCE_MAX_CHARS = 200_000
WHOLE_FILE_MAX_LINES = 200
CACHE_SIZE = 2048


@define
class DocumentState:
    """One open document: its pending or running automatic run and its checked code."""

    task: asyncio.Task[None] | None = None
    checked: dict[str, Checked] = field(factory=dict)
    syntax: list[types.Diagnostic] = field(factory=list)
    seen: tuple[str, ...] = ()
    last_edit: int | None = None
    published: bool = False

    def cancel(self) -> None:
        """Stop the pending or running automatic run, if any."""
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None


class Diagnostics(DocumentSubscriber):
    """The diagnostics feature: per document state, the answer cache shared by all documents, and live runs."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.documents: dict[str, DocumentState] = {}
        self.cache: LRUCache[str, Answer] = LRUCache(maxsize=CACHE_SIZE)
        self.tasks: set[asyncio.Task[None]] = set()

    def register(self) -> None:
        """Follow document sync; the runs themselves are started from its events."""
        self.server.features.documents.subscribe(self)

    def opened(self, uri: str, version: int | None) -> None:
        """A document opened: its syntax error now, a model run once it has been idle."""
        self._follow(uri, opened=True)

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """A document changed: stale runs stop, findings follow their code, the idle timer restarts."""
        self._follow(uri, opened=False)

    def saved(self, uri: str) -> None:
        """A document was saved: check its changed units now."""
        settings = self.server.settings.server
        doc = self.documents.get(uri)
        if doc is None or not settings.diagnostics_enabled or not settings.diagnostics_on_save:
            return
        self._schedule(uri, doc, 0.0)

    def closed(self, uri: str) -> None:
        """A document closed: stop its runs and clear its diagnostics."""
        doc = self.documents.pop(uri, None)
        if doc is None:
            return
        doc.cancel()
        if doc.published:
            self._send(uri, None, [])

    def publish(self, uri: str, force: bool = False) -> None:
        """Send the last syntax error found and the findings placed where their code is now.

        Nothing is sent when there is nothing to show and nothing was shown, unless `force` (end of a run).
        """
        document = find_document(self.server.workspace, uri)
        doc = self.documents.get(uri)
        if document is None or doc is None:
            return
        try:
            open_document(self.server, uri)
        except UnusableDocument:
            doc.checked.clear()
            doc.syntax = []
            diagnostics: list[types.Diagnostic] = []
        else:
            diagnostics = doc.syntax + finding_diagnostics(document, doc.checked)
        if not diagnostics and not doc.published and not force:
            return
        doc.published = bool(diagnostics)
        self._send(uri, document, diagnostics)

    def _send(self, uri: str, document: TextDocument | None, diagnostics: list[types.Diagnostic]) -> None:
        """publishDiagnostics, with the document's version when the client understands it."""
        text_document = self.server.client_capabilities.text_document
        capability = text_document.publish_diagnostics if text_document is not None else None
        versioned = document is not None and capability is not None and bool(capability.version_support)
        version = document.version if versioned and document is not None else None
        self.server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, version))

    def _schedule(self, uri: str, doc: DocumentState, delay: float) -> None:
        """Cancel the document's pending or running run and start a new one after `delay` seconds."""
        doc.cancel()
        task = asyncio.get_running_loop().create_task(self._automatic(uri, delay))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        doc.task = task

    def _follow(self, uri: str, opened: bool) -> None:
        """After open or change: cancel the old run, publish at once, and re-arm the idle timer."""
        document = find_document(self.server.workspace, uri)
        if document is None:
            return
        doc = self.documents.setdefault(uri, DocumentState())
        doc.cancel()
        settings = self.server.settings.server
        if not settings.diagnostics_enabled:
            doc.syntax = []
            self.publish(uri)
            return
        try:
            open_document(self.server, uri)
        except UnusableDocument:
            self.publish(uri)
            return
        lines = plain_lines(document)
        doc.last_edit = None if opened else _first_difference(doc.seen, lines, doc.last_edit)
        doc.seen = lines
        small = len(document.source) <= SYNTAX_AT_ONCE_MAX_CHARS
        doc.syntax = syntax_diagnostics(document) if small else []
        self.publish(uri)
        if settings.diagnostics_idle_s > 0:
            self._schedule(uri, doc, settings.diagnostics_idle_s)

    async def _automatic(self, uri: str, delay: float) -> None:
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            await self._check_changed_units(uri)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("diagnostics run failed for %s", uri)
            self.server.log_info(f"Free-S_Code diagnostics failed: {exc}")

    async def _check_changed_units(self, uri: str) -> None:
        """Run the debug task on the units not checked yet, publishing as findings come in."""
        doc = self.documents.get(uri)
        if doc is None:
            return
        try:
            document = open_document(self.server, uri)
        except UnusableDocument:
            return
        doc.syntax = syntax_diagnostics(document)
        if doc.syntax:
            self.publish(uri, force=True)
            return
        version = document.version
        lines = plain_lines(document)
        language = language_for(document)
        model = self.server.get_router().effective_model(TASK)
        wanted = []
        for unit in units_to_check(document.source, language, lines):
            entry = doc.checked.get(content_key(code_of(lines[unit.start : unit.end])))
            if entry is None or entry.requested_model != model:
                wanted.append(unit)
        wanted.sort(key=lambda unit: _distance(unit, doc.last_edit))
        for unit in wanted[:MAX_UNITS_PER_RUN]:
            checked, _problem = await self._debug(lines, language, unit.start, unit.end, model)
            if document.version != version or uri not in self.documents:
                return
            if checked is None:
                break
            doc.checked[content_key(code_of(checked.lines))] = checked
            if checked.answer.findings:
                self.publish(uri)
        self.publish(uri, force=True)

    async def _debug(
        self, lines: Sequence[str], language: str, start: int, end: int, model: str
    ) -> tuple[Checked | None, str | None]:
        """Lines [start, end) checked by the model, or from the cache; (None, problem) when the model failed."""
        code_lines = tuple(lines[start:end])
        key = content_key(model, language, code_of(code_lines))
        answer = self.cache.get(key)
        if answer is None:
            item = lines_input(TASK, lines, language, start, end)
            server = self.server
            outcome = await run_findings(server.get_router(), item, model, None, server.settings.server.max_tokens)
            status.report(server, outcome, "failed" if outcome.problem else "done")
            if outcome.problem:
                return None, outcome.problem
            answered = outcome.model or model
            answer = Answer(
                answered,
                tuple(
                    Found(f.line - start - 1, f.end_line - start - 1, f.severity, f.message, answered) for f in outcome.findings
                ),
            )
            self.cache[key] = answer
        return Checked(code_lines, start, model, answer), None

    async def debug_region(self, uri: str, start: int, end: int) -> TaskResult:
        """Run the debug task on lines [start, end) now ("Find bugs") and publish the findings."""
        server = self.server
        try:
            document = open_document(server, uri)
        except UnusableDocument as exc:
            server.tell_user(str(exc))
            return TaskResult("findings", str(exc))
        lines = plain_lines(document)
        if not lines:
            message = "the document is empty"
            server.tell_user(message)
            return TaskResult("findings", message)
        start = min(max(start, 0), len(lines) - 1)
        end = min(max(end, start + 1), len(lines))
        model = server.get_router().effective_model(TASK)
        status.report_progress(server, TASK, model, "running")
        checked, problem = await self._debug(lines, language_for(document), start, end, model)
        if checked is None:
            message = problem or "the model did not answer"
            server.tell_user(message)
            return TaskResult("findings", message, model=model)
        if find_document(server.workspace, uri) is not None:
            doc = self.documents.setdefault(uri, DocumentState(seen=lines))
            doc.checked[content_key(code_of(checked.lines))] = checked
            self.publish(uri, force=True)
        count = len(checked.answer.findings)
        found = "no bugs" if count == 0 else ("1 possible bug" if count == 1 else f"{count} possible bugs")
        message = f"Find bugs: {found}, by {checked.answer.model}"
        return TaskResult("findings", message, model=checked.answer.model, findings=count)


def units_to_check(source: str, language: str, lines: Sequence[str]) -> list[CodeUnit]:
    """The file's code units; a small file without any is one unit."""
    units = [unit for unit in units_in(source, language) if unit.end > unit.start]
    if not units and 0 < len(lines) <= WHOLE_FILE_MAX_LINES and any(line.strip() for line in lines):
        return [CodeUnit(0, len(lines), "module", None)]
    return units


def _first_difference(old: Sequence[str], new: Sequence[str], previous: int | None) -> int | None:
    for number, (before, after) in enumerate(zip(old, new, strict=False)):
        if before != after:
            return number
    return min(len(old), len(new)) if len(old) != len(new) else previous


def _distance(unit: CodeUnit, line: int | None) -> int:
    if line is None:
        return unit.start
    if unit.start <= line < unit.end:
        return 0
    return min(abs(unit.start - line), abs(unit.end - 1 - line))
