"""freescode.runTask: run a task on a region; rewrites stream into the buffer as RewriteJobs with progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.document_sync import DocumentSubscriber
from freescode_lsp.lsp.features.documents import (
    UnusableDocument,
    current_lines,
    open_document,
    task_input,
    task_region,
)
from freescode_lsp.lsp.features.fix_guard import guard_rewrite
from freescode_lsp.lsp.features.rewrite_job import RewriteJob
from freescode_lsp.lsp.features.task_result import TaskResult
from freescode_lsp.task_table import RUN_TASK_COMMAND, task_spec
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs
from freescode_lsp.tasks.runner import run_task

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer

COMMAND = RUN_TASK_COMMAND


class RunTask(DocumentSubscriber):
    """The freescode.runTask feature: the rewrite running in each document, which follows its document's sync."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.rewrites: dict[str, RewriteJob] = {}

    def register(self) -> None:
        """Register the command and follow document sync for running rewrites."""
        self.server.features.documents.subscribe(self)

        @self.server.command(COMMAND)
        async def run_task_command(ls: Any, *args: Any) -> dict[str, Any]:
            """Run a task; arguments: one TaskArgs object (pygls resolves these hints, so no forward refs)."""
            result = await self.run(args[0] if args else None)
            return result.to_json()

    async def run(self, raw_args: object) -> TaskResult:
        """Run one task from command arguments; always answers, never raises for bad input."""
        server = self.server
        try:
            args = TaskArgs.from_json(raw_args)
            document = open_document(server, args.uri)
            args = current_lines(server, args, document.version)
            start, end = task_region(document, args)
        except (BadTaskArgs, UnusableDocument) as exc:
            server.tell_user(str(exc))
            return TaskResult.refused(str(exc))
        deliver = {"findings": self._publish_findings, "text": self._explain, "rewrite": self._stream_rewrite}
        return await deliver[task_spec(args.task).produces](args, start, end)

    async def _publish_findings(self, args: TaskArgs, start: int, end: int) -> TaskResult:
        """Findings land as diagnostics, through the diagnostics feature that owns them."""
        return await self.server.features.diagnostics.debug_region(args.uri, start, end)

    async def _stream_rewrite(self, args: TaskArgs, start: int, end: int) -> TaskResult:
        """A rewrite streams into the buffer as a RewriteJob; one per document at a time."""
        server = self.server
        uri = args.uri
        if uri in self.rewrites:
            message = "a rewrite is already running in this file; wait for it or cancel it"
            server.tell_user(message)
            return TaskResult.refused(message)
        job = self.rewrites[uri] = RewriteJob(server, args, start, end)
        try:
            done = await job.run()
        finally:
            self.rewrites.pop(uri, None)
        return await guard_rewrite(server, job.session, job.title, done)

    async def _explain(self, args: TaskArgs, start: int, end: int) -> TaskResult:
        """An explanation comes back as Markdown in the command's answer."""
        server = self.server
        try:
            item = task_input(open_document(server, args.uri), args.task, start, end)
        except UnusableDocument as exc:
            server.tell_user(str(exc))
            return TaskResult.refused(str(exc))
        outcome = await run_task(server.get_router(), item, None, None, server.settings.server.max_tokens)
        status.report(server, outcome, "done" if outcome.text else "failed")
        if outcome.text is None:
            server.tell_user(outcome.problem or "no explanation")
        return TaskResult("text", outcome.problem, markdown=outcome.text, model=outcome.model)

    def stop_all(self, reason: str) -> None:
        """Stop every running rewrite (the server is shutting down)."""
        for job in list(self.rewrites.values()):
            job.cancel(reason)

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """Let a rewrite running in this document follow the change (or stop, if it touched the region)."""
        job = self.rewrites.get(uri)
        if job is not None:
            job.session.on_change(changes)

    def closed(self, uri: str) -> None:
        """A rewrite of a closed document stops."""
        job = self.rewrites.get(uri)
        if job is not None:
            job.cancel("the document was closed")

    def lost(self, uri: str, reason: str) -> None:
        """A rewrite of a document out of sync stops: its edits could land on text we cannot see."""
        job = self.rewrites.get(uri)
        if job is not None:
            job.session.stop(reason)
