"""freescode.runTask: run a task on a region, streaming the rewrite into the buffer with progress."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

from attrs import evolve
from lsprotocol import types

from freescode_lsp.edits import StreamingRewrite, partial_target, split_lines
from freescode_lsp.features import status
from freescode_lsp.features.documents import (
    UnusableDocument,
    open_document,
    task_input,
    task_region,
)
from freescode_lsp.features.rewrite import RewriteSession, RewriteStopped, eol_of
from freescode_lsp.line_endings import keep_line_endings
from freescode_lsp.task_table import RUN_TASK_COMMAND, task_spec
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs
from freescode_lsp.tasks.runner import TaskOutcome, run_rewrite, run_text

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

COMMAND = RUN_TASK_COMMAND


class Progress:
    """Server-initiated work-done progress that the user can cancel (a no-op if the client lacks it)."""

    def __init__(self, server: FreescodeServer, title: str, on_cancel: Any) -> None:
        self.server = server
        self.title = title
        self.token: str | None = None
        self.on_cancel = on_cancel

    async def begin(self) -> None:
        """Create the token and show the progress."""
        window = self.server.client_capabilities.window
        if window is None or not window.work_done_progress:
            return
        token = f"freescode-{uuid.uuid4()}"
        try:
            await asyncio.shield(self.server.work_done_progress.create_async(token))
        except Exception:  # noqa: BLE001 - no progress UI, the task still runs
            return
        self.token = token
        self.server.progress_handlers[token] = self.on_cancel
        self.server.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=self.title, cancellable=True, message="waiting for the model")
        )

    def report(self, message: str) -> None:
        """Update the progress message."""
        if self.token is not None:
            self.server.work_done_progress.report(token=self.token, value=types.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        """Close the progress."""
        if self.token is not None:
            self.server.progress_handlers.pop(self.token, None)
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.token = None


async def run_task(server: FreescodeServer, raw_args: Any) -> dict[str, Any]:
    """Run one task from command arguments; always answers, never raises for bad input."""
    try:
        args = TaskArgs.from_json(raw_args)
        document = open_document(server, args.uri)
        args = current_lines(server, args, document.version)
        start, end = task_region(document, args)
    except (BadTaskArgs, UnusableDocument) as exc:
        server.tell_user(str(exc))
        return {"applied": False, "message": str(exc)}
    produces = task_spec(args.task).produces
    if produces == "findings":
        from freescode_lsp.features.diagnostics import debug_region

        return await debug_region(server, args.uri, start, end)
    if produces == "text":
        return await _explain(server, task_input(document, args.task, start, end))
    if args.uri in server.sessions:
        message = "a rewrite is already running in this file; wait for it or cancel it"
        server.tell_user(message)
        return {"applied": False, "message": message}
    return await _rewrite(server, args, start, end)


def current_lines(server: FreescodeServer, args: TaskArgs, version: int | None) -> TaskArgs:
    """The arguments with lines from an older version of the document moved to where that code is now."""
    if args.version is None or version is None or args.version == version:
        return args
    line = server.line_history.map_line(args.uri, args.line, args.version)
    end_line = server.line_history.map_line(args.uri, args.end_line, args.version)
    if line is None or end_line is None:
        name = args.uri.rsplit("/", 1)[-1]
        raise UnusableDocument(
            f"{name} changed too much since this action was offered (version {args.version}, now {version}); "
            "choose the action again"
        )
    return evolve(args, line=line, end_line=end_line, version=version)


async def _explain(server: FreescodeServer, item: Any) -> dict[str, Any]:
    outcome = await run_text(server.get_router(), item, None, None, server.settings.server.max_tokens)
    status.report(server, outcome, "done" if outcome.text else "failed")
    if outcome.text is None:
        server.tell_user(outcome.problem or "no explanation")
    return {"applied": False, "markdown": outcome.text, "model": outcome.model, "message": outcome.problem}


async def _rewrite(server: FreescodeServer, args: TaskArgs, start: int, end: int) -> dict[str, Any]:
    router = server.get_router()
    document = server.workspace.get_text_document(args.uri)
    item = task_input(document, args.task, start, end)
    model = router.effective_model(args.task)
    session = RewriteSession(server, args.uri, start, end, f"Free-S_Code: {task_spec(args.task).title}")
    server.sessions[args.uri] = session
    streaming = server.settings.server.streaming
    stream = StreamingRewrite(item.code, item.language)
    wake = asyncio.Event()
    tokens = 0

    def on_chunk(chunk: Any) -> None:
        nonlocal tokens
        if chunk.text:
            tokens += 1
            stream.feed(chunk.text)
            wake.set()

    generation = asyncio.ensure_future(
        run_rewrite(router, item, model, on_chunk, server.settings.server.max_tokens)
    )
    progress = Progress(server, f"{task_spec(args.task).title} with {model}", lambda: _cancel(session, generation))
    session.on_stop = lambda reason: generation.cancel() if not generation.done() else None
    await progress.begin()
    status.report_progress(server, args.task, model, "streaming")
    outcome: TaskOutcome | None = None
    result: dict[str, Any] = {"applied": False, "message": "cancelled", "edits": 0}
    try:
        await _stream_into(session, stream, generation, wake, progress, streaming, lambda: f"{tokens} tokens from {model}")
        outcome = generation.result()
        if outcome.text is None:
            if session.expected != session.original:
                await session.apply(session.original)
            raise RewriteStopped(outcome.problem or "the model's answer could not be used")
        await session.apply(split_lines(outcome.text))
        result = {"applied": True, "message": f"{task_spec(args.task).title} done by {outcome.model}", "model": outcome.model}
    except RewriteStopped as exc:
        message = await session.settle(str(exc))
        server.tell_user(message)
        result = {"applied": False, "message": message}
    except asyncio.CancelledError:
        result = {"applied": False, "message": session.stopped or "cancelled"}
    finally:
        server.sessions.pop(args.uri, None)
        if not generation.done():
            generation.cancel()
        result["edits"] = session.edits_sent
        progress.end(str(result["message"]))
    if outcome is None and generation.done() and not generation.cancelled() and generation.exception() is None:
        outcome = generation.result()
    if outcome is not None:
        status.report(server, outcome, "done" if result["applied"] else "failed")
    return result


async def _stream_into(
    session: RewriteSession,
    stream: StreamingRewrite,
    generation: asyncio.Future[TaskOutcome],
    wake: asyncio.Event,
    progress: Progress,
    streaming: bool,
    describe: Any,
) -> None:
    """Apply finished lines as they arrive, one edit in flight, until the model is done."""
    pushed = 0
    while not generation.done():
        waiter = asyncio.ensure_future(wake.wait())
        await asyncio.wait({waiter, generation}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        wake.clear()
        progress.report(describe())
        if streaming and session.stopped is None:
            done = stream.complete_lines()
            if len(done) > pushed:
                pushed = len(done)
                await session.apply(partial_target(session.original, done))
    if session.stopped is not None:
        raise RewriteStopped(session.stopped)


def _cancel(session: RewriteSession, generation: asyncio.Future[Any]) -> None:
    session.stop("cancelled; nothing more is applied")
    generation.cancel()


async def resolve_edit(server: FreescodeServer, action: types.CodeAction) -> types.CodeAction:
    """codeAction/resolve: with streaming off, the whole versioned edit; otherwise the action as it is."""
    if server.settings.server.streaming or action.edit is not None:
        return action
    try:
        args = TaskArgs.from_json(action.data)
        if not task_spec(args.task).rewrites_code:
            return action
        document = open_document(server, args.uri)
        args = current_lines(server, args, document.version)
        start, end = task_region(document, args)
    except (BadTaskArgs, UnusableDocument) as exc:
        server.tell_user(str(exc))
        return action
    version = document.version
    item = task_input(document, args.task, start, end)
    outcome = await run_rewrite(server.get_router(), item, None, None, server.settings.server.max_tokens)
    status.report(server, outcome, "done" if outcome.text else "failed")
    if outcome.text is None:
        server.tell_user(outcome.problem or "the model's answer could not be used")
        return action
    eol = eol_of(document)
    new_text = keep_line_endings(document.lines[start:end], outcome.text, eol)
    end_position = types.Position(end, 0)
    if end >= len(document.lines) and not document.lines[-1].endswith(("\n", "\r")):
        end_position = types.Position(len(document.lines) - 1, document.position_codec.client_num_units(document.lines[-1]))
        new_text = new_text[: -len(eol)] if new_text.endswith(eol) else new_text
    action.edit = types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=args.uri, version=version),
                edits=[types.TextEdit(range=types.Range(types.Position(start, 0), end_position), new_text=new_text)],
            )
        ]
    )
    action.command = None
    return action


def register(server: FreescodeServer) -> None:
    """Register the command and progress cancellation."""

    @server.command(COMMAND)
    async def run_task_command(ls: Any, *args: Any) -> dict[str, Any]:
        """Run a task; arguments: one TaskArgs object (pygls resolves these hints, so no forward refs)."""
        return await run_task(ls, args[0] if args else None)

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def on_progress_cancel(ls: FreescodeServer, params: types.WorkDoneProgressCancelParams) -> None:
        """The user pressed cancel on a task's progress."""
        handler = ls.progress_handlers.pop(str(params.token), None)
        if handler is not None:
            handler()
