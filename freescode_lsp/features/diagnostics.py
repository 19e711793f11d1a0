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
import hashlib
import logging
import warnings
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from attrs import define, field
from cachetools import LRUCache
from lsprotocol import types

from freescode_lsp.edits import split_lines
from freescode_lsp.engines.base import SurroundingCode
from freescode_lsp.features import status
from freescode_lsp.features.documents import (
    UnusableDocument,
    language_for,
    open_document,
)
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.runner import run_debug
from freescode_lsp.tasks.units import CodeUnit, units_in
from freescode_lsp.text_documents import find_document

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.server import FreescodeServer

log = logging.getLogger(__name__)

SOURCE = "freescode"
MAX_UNITS_PER_RUN = 8
SYNTAX_AT_ONCE_MAX_CHARS = 200_000
WHOLE_FILE_MAX_LINES = 200
CACHE_SIZE = 2048
PYTHON = frozenset({"python", "py", "python3"})
SEVERITIES = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


@define(frozen=True)
class Found:
    """A finding with lines relative to the first line of its code (0-based, inclusive)."""

    line: int
    end_line: int
    severity: str
    message: str
    model: str


@define(frozen=True)
class Answer:
    """What a model said about one piece of code; cached by model, language and text."""

    model: str
    findings: tuple[Found, ...]


@define
class Checked:
    """Code the debug task has looked at, where it was last seen, and what was found in it."""

    lines: tuple[str, ...]
    start: int
    requested_model: str
    answer: Answer


@define
class DocumentState:
    """One open document: its pending or running automatic run and its checked code."""

    task: asyncio.Task[None] | None = None
    checked: dict[str, Checked] = field(factory=dict)
    syntax: list[types.Diagnostic] = field(factory=list)
    seen: tuple[str, ...] = ()
    last_edit: int | None = None
    published: bool = False


@define
class DiagnosticsState:
    """Per server: the documents, the answer cache shared by all of them, and live tasks."""

    documents: dict[str, DocumentState] = field(factory=dict)
    cache: LRUCache[str, Answer] = field(factory=lambda: LRUCache(maxsize=CACHE_SIZE))
    tasks: set[asyncio.Task[None]] = field(factory=set)


_STATES: weakref.WeakKeyDictionary[FreescodeServer, DiagnosticsState] = weakref.WeakKeyDictionary()


def _state(server: FreescodeServer) -> DiagnosticsState:
    state = _STATES.get(server)
    if state is None:
        state = _STATES[server] = DiagnosticsState()
    return state


def content_key(*parts: str) -> str:
    """sha256 over the parts, NUL-separated (cache keys: model, language, code)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def plain_lines(document: TextDocument) -> tuple[str, ...]:
    """The document's lines without terminators, split only where LSP splits (not on form feeds)."""
    return tuple(split_lines(document.source))


def _code(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


def task_item(task: str, lines: Sequence[str], language: str, start: int, end: int) -> TaskInput:
    """Lines [start, end) as a task's input, with the whole file around them."""
    return TaskInput(task, _code(lines[start:end]), language, SurroundingCode(tuple(lines), start, end))


def syntax_diagnostics(document: TextDocument) -> list[types.Diagnostic]:
    """The Python syntax error of the document, if it has one (nothing for other languages)."""
    if language_for(document).lower() not in PYTHON:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(document.source, document.path or document.uri, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return [_syntax_diagnostic(document, exc)]
    except (ValueError, RecursionError, MemoryError):
        return []
    return []


def _syntax_diagnostic(document: TextDocument, exc: SyntaxError) -> types.Diagnostic:
    lines = plain_lines(document) or ("",)
    line = min(max((exc.lineno or 1) - 1, 0), len(lines) - 1)
    column = min(max((exc.offset or 1) - 1, 0), len(lines[line]))
    end_line, end_column = line, len(lines[line])
    if exc.end_lineno is not None and exc.end_offset is not None and exc.end_lineno - 1 < len(lines):
        candidate = (exc.end_lineno - 1, min(max(exc.end_offset - 1, 0), len(lines[exc.end_lineno - 1])))
        if candidate > (line, column):
            end_line, end_column = candidate
    if (end_line, end_column) == (line, column):
        if end_column < len(lines[line]):
            end_column += 1
        elif column > 0:
            column -= 1
    codec = document.position_codec
    return types.Diagnostic(
        range=types.Range(
            types.Position(line, codec.client_num_units(lines[line][:column])),
            types.Position(end_line, codec.client_num_units(lines[end_line][:end_column])),
        ),
        message=exc.msg or "invalid syntax",
        severity=types.DiagnosticSeverity.Error,
        code="syntax",
        source=SOURCE,
    )


def _lines_range(document: TextDocument, lines: Sequence[str], first: int, last: int) -> types.Range:
    """Whole lines first..last, from the first code character to the end of the last line."""
    codec = document.position_codec
    head = lines[first]
    indent = len(head) - len(head.lstrip(" \t"))
    if indent == len(head):
        indent = 0
    return types.Range(
        types.Position(first, codec.client_num_units(head[:indent])),
        types.Position(last, codec.client_num_units(lines[last])),
    )


def _place(checked: dict[str, Checked], lines: Sequence[str]) -> list[Checked]:
    """Find each checked piece of code in the lines, nearest where it was; forget what is gone."""
    where: dict[str, list[int]] = {}
    for number, text in enumerate(lines):
        where.setdefault(text, []).append(number)
    placed = []
    for key, entry in list(checked.items()):
        size = len(entry.lines)
        spots = [s for s in where.get(entry.lines[0], ()) if tuple(lines[s : s + size]) == entry.lines] if size else []
        if not spots:
            del checked[key]
            continue
        entry.start = min(spots, key=lambda spot: abs(spot - entry.start))
        placed.append(entry)
    return placed


def _finding_diagnostics(document: TextDocument, doc: DocumentState) -> list[types.Diagnostic]:
    lines = plain_lines(document)
    diagnostics: list[types.Diagnostic] = []
    seen: set[tuple[int, int, str]] = set()
    for entry in _place(doc.checked, lines):
        last_line = entry.start + len(entry.lines) - 1
        for found in entry.answer.findings:
            first = min(entry.start + found.line, last_line)
            last = min(max(entry.start + found.end_line, first), last_line)
            if (first, last, found.message) in seen:
                continue
            seen.add((first, last, found.message))
            diagnostics.append(
                types.Diagnostic(
                    range=_lines_range(document, lines, first, last),
                    message=f"{found.message} ({found.model})",
                    severity=SEVERITIES.get(found.severity, types.DiagnosticSeverity.Warning),
                    code="debug",
                    source=SOURCE,
                )
            )
    return sorted(diagnostics, key=lambda d: (d.range.start.line, d.range.start.character))


def publish(server: FreescodeServer, uri: str, force: bool = False) -> None:
    """Send the last syntax error found and the findings placed where their code is now.

    Nothing is sent when there is nothing to show and nothing was shown, unless `force` (end of a run).
    """
    document = find_document(server.workspace, uri)
    doc = _state(server).documents.get(uri)
    if document is None or doc is None:
        return
    try:
        open_document(server, uri)
    except UnusableDocument:
        doc.checked.clear()
        doc.syntax = []
        diagnostics: list[types.Diagnostic] = []
    else:
        diagnostics = doc.syntax + _finding_diagnostics(document, doc)
    if not diagnostics and not doc.published and not force:
        return
    doc.published = bool(diagnostics)
    _send(server, uri, document, diagnostics)


def _send(
    server: FreescodeServer, uri: str, document: TextDocument | None, diagnostics: list[types.Diagnostic]
) -> None:
    """publishDiagnostics, with the document's version when the client understands it."""
    text_document = server.client_capabilities.text_document
    capability = text_document.publish_diagnostics if text_document is not None else None
    versioned = document is not None and capability is not None and bool(capability.version_support)
    version = document.version if versioned and document is not None else None
    server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, version))


def _first_difference(old: Sequence[str], new: Sequence[str], previous: int | None) -> int | None:
    for number, (before, after) in enumerate(zip(old, new, strict=False)):
        if before != after:
            return number
    return min(len(old), len(new)) if len(old) != len(new) else previous


def _schedule(server: FreescodeServer, uri: str, doc: DocumentState, delay: float) -> None:
    """Cancel the document's pending or running run and start a new one after `delay` seconds."""
    _cancel(doc)
    state = _state(server)
    task = asyncio.get_running_loop().create_task(_automatic(server, uri, delay))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)
    doc.task = task


def _cancel(doc: DocumentState) -> None:
    if doc.task is not None and not doc.task.done():
        doc.task.cancel()
    doc.task = None


def _follow(server: FreescodeServer, uri: str, opened: bool) -> None:
    """After open or change: cancel the old run, publish at once, and re-arm the idle timer."""
    document = find_document(server.workspace, uri)
    if document is None:
        return
    doc = _state(server).documents.setdefault(uri, DocumentState())
    lines = plain_lines(document)
    doc.last_edit = None if opened else _first_difference(doc.seen, lines, doc.last_edit)
    doc.seen = lines
    _cancel(doc)
    settings = server.settings.server
    if not settings.diagnostics_enabled:
        doc.syntax = []
        publish(server, uri)
        return
    try:
        open_document(server, uri)
    except UnusableDocument:
        publish(server, uri)
        return
    small = len(document.source) <= SYNTAX_AT_ONCE_MAX_CHARS
    doc.syntax = syntax_diagnostics(document) if small else []
    publish(server, uri)
    if settings.diagnostics_idle_s > 0:
        _schedule(server, uri, doc, settings.diagnostics_idle_s)


def on_document_opened(server: FreescodeServer, uri: str) -> None:
    """A document opened: its syntax error now, a model run once it has been idle."""
    _follow(server, uri, opened=True)


def on_document_changed(server: FreescodeServer, uri: str) -> None:
    """A document changed: stale runs stop, findings follow their code, the idle timer restarts."""
    _follow(server, uri, opened=False)


def on_document_saved(server: FreescodeServer, uri: str) -> None:
    """A document was saved: check its changed units now."""
    settings = server.settings.server
    doc = _state(server).documents.get(uri)
    if doc is None or not settings.diagnostics_enabled or not settings.diagnostics_on_save:
        return
    _schedule(server, uri, doc, 0.0)


def on_document_closed(server: FreescodeServer, uri: str) -> None:
    """A document closed: stop its runs and clear its diagnostics."""
    doc = _state(server).documents.pop(uri, None)
    if doc is None:
        return
    _cancel(doc)
    if doc.published:
        _send(server, uri, None, [])


async def _automatic(server: FreescodeServer, uri: str, delay: float) -> None:
    try:
        if delay > 0:
            await asyncio.sleep(delay)
        await _check_changed_units(server, uri)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run must not take the server down
        log.exception("diagnostics run failed for %s", uri)
        server.log_info(f"Free-S_Code diagnostics failed: {exc}")


def units_to_check(source: str, language: str, lines: Sequence[str]) -> list[CodeUnit]:
    """The file's code units; a small file without any is one unit."""
    units = [unit for unit in units_in(source, language) if unit.end > unit.start]
    if not units and 0 < len(lines) <= WHOLE_FILE_MAX_LINES and any(line.strip() for line in lines):
        return [CodeUnit(0, len(lines), "module", None)]
    return units


def _distance(unit: CodeUnit, line: int | None) -> int:
    if line is None:
        return unit.start
    if unit.start <= line < unit.end:
        return 0
    return min(abs(unit.start - line), abs(unit.end - 1 - line))


async def _check_changed_units(server: FreescodeServer, uri: str) -> None:
    """Run the debug task on the units not checked yet, publishing as findings come in."""
    doc = _state(server).documents.get(uri)
    if doc is None:
        return
    try:
        document = open_document(server, uri)
    except UnusableDocument:
        return
    doc.syntax = syntax_diagnostics(document)
    if doc.syntax:
        publish(server, uri, force=True)
        return
    version = document.version
    lines = plain_lines(document)
    language = language_for(document)
    model = server.get_router().effective_model("debug")
    wanted = []
    for unit in units_to_check(document.source, language, lines):
        entry = doc.checked.get(content_key(_code(lines[unit.start : unit.end])))
        if entry is None or entry.requested_model != model:
            wanted.append(unit)
    wanted.sort(key=lambda unit: _distance(unit, doc.last_edit))
    for unit in wanted[:MAX_UNITS_PER_RUN]:
        checked, _problem = await _debug(server, lines, language, unit.start, unit.end, model)
        if document.version != version or uri not in _state(server).documents:
            return
        if checked is None:
            break
        doc.checked[content_key(_code(checked.lines))] = checked
        if checked.answer.findings:
            publish(server, uri)
    publish(server, uri, force=True)


async def _debug(
    server: FreescodeServer, lines: Sequence[str], language: str, start: int, end: int, model: str
) -> tuple[Checked | None, str | None]:
    """Lines [start, end) checked by the model, or from the cache; (None, problem) when the model failed."""
    code_lines = tuple(lines[start:end])
    code = _code(code_lines)
    cache = _state(server).cache
    key = content_key(model, language, code)
    answer = cache.get(key)
    if answer is None:
        item = task_item("debug", lines, language, start, end)
        outcome = await run_debug(server.get_router(), item, start + 1, model, server.settings.server.max_tokens)
        status.report(server, outcome, "failed" if outcome.problem else "done")
        if outcome.problem:
            return None, outcome.problem
        answered = outcome.model or model
        answer = Answer(
            answered,
            tuple(
                Found(f.line - start - 1, f.end_line - start - 1, f.severity, f.message, answered)
                for f in outcome.findings
            ),
        )
        cache[key] = answer
    return Checked(code_lines, start, model, answer), None


async def debug_region(server: FreescodeServer, uri: str, start: int, end: int) -> dict[str, Any]:
    """Run the debug task on lines [start, end) now ("Find bugs") and publish the findings."""
    try:
        document = open_document(server, uri)
    except UnusableDocument as exc:
        server.tell_user(str(exc))
        return {"applied": False, "findings": 0, "model": None, "message": str(exc)}
    lines = plain_lines(document)
    if not lines:
        message = "the document is empty"
        server.tell_user(message)
        return {"applied": False, "findings": 0, "model": None, "message": message}
    start = min(max(start, 0), len(lines) - 1)
    end = min(max(end, start + 1), len(lines))
    model = server.get_router().effective_model("debug")
    status.report_progress(server, "debug", model, "running")
    checked, problem = await _debug(server, lines, language_for(document), start, end, model)
    if checked is None:
        message = problem or "the model did not answer"
        server.tell_user(message)
        return {"applied": False, "findings": 0, "model": model, "message": message}
    if find_document(server.workspace, uri) is not None:
        doc = _state(server).documents.setdefault(uri, DocumentState(seen=lines))
        doc.checked[content_key(_code(checked.lines))] = checked
        publish(server, uri, force=True)
    count = len(checked.answer.findings)
    found = "no bugs" if count == 0 else ("1 possible bug" if count == 1 else f"{count} possible bugs")
    message = f"Find bugs: {found}, by {checked.answer.model}"
    return {"applied": False, "findings": count, "model": checked.answer.model, "message": message}


def register(server: FreescodeServer) -> None:
    """Register didOpen and didSave; lifecycle forwards didChange and didClose here."""

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(ls: FreescodeServer, params: types.DidOpenTextDocumentParams) -> None:
        """Syntax errors at once; the first model run once the buffer is idle."""
        ls.out_of_sync.pop(params.text_document.uri, None)
        ls.line_history.opened(params.text_document.uri, params.text_document.version)
        on_document_opened(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(ls: FreescodeServer, params: types.DidSaveTextDocumentParams) -> None:
        """Check the changed units now."""
        on_document_saved(ls, params.text_document.uri)
