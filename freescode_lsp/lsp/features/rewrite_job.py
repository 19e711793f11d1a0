"""One rewrite from the model's first token to the last edit, as a job with explicit states.

pending -> streaming -> applied | cancelled | failed | stale. While streaming, finished lines go into the
buffer through a RewriteSession (see rewrite.py for the invariants that keep the user's text safe); at the
end the whole answer is applied, or, when the model gave nothing usable, the original text is put back.
cancelled: the user, a closed document or a shutdown stopped it. failed: the model gave no usable answer or
the editor kept our edits from landing. stale: the user edited the region, or the document went out of sync.
"""

from __future__ import annotations

import asyncio
import enum
from typing import TYPE_CHECKING, Any

from freescode_lsp.edits import StreamingRewrite, partial_target, split_lines
from freescode_lsp.engines.base import Chunk
from freescode_lsp.errors import FreescodeError
from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.documents import task_input
from freescode_lsp.lsp.features.progress import Progress
from freescode_lsp.lsp.features.rewrite import RewriteSession, RewriteStopped
from freescode_lsp.lsp.features.task_result import TaskResult
from freescode_lsp.task_table import task_spec
from freescode_lsp.tasks.repair_context import with_clues
from freescode_lsp.tasks.retry import no_change_message, unchanged_answer
from freescode_lsp.tasks.runner import TaskOutcome, run_task

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer
    from freescode_lsp.tasks.requests import TaskArgs


class JobState(enum.Enum):
    """Where a rewrite job is."""

    PENDING = "pending"
    STREAMING = "streaming"
    APPLIED = "applied"
    CANCELLED = "cancelled"
    FAILED = "failed"
    STALE = "stale"


NEXT_STATES: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.STREAMING, JobState.CANCELLED}),
    JobState.STREAMING: frozenset({JobState.APPLIED, JobState.CANCELLED, JobState.FAILED, JobState.STALE}),
    JobState.APPLIED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.STALE: frozenset(),
}


class WrongTransition(FreescodeError, RuntimeError):
    """A job was asked to move to a state it cannot reach from where it is."""


def moved(current: JobState, to: JobState) -> JobState:
    """`to`, if a job in `current` may move there; WrongTransition otherwise."""
    if to not in NEXT_STATES[current]:
        raise WrongTransition(f"a rewrite job cannot go from {current.value} to {to.value}")
    return to


class RewriteJob:
    """Rewrites lines [start, end) of a document with the task's routed model, streaming into the buffer."""

    def __init__(self, server: FreescodeServer, args: TaskArgs, start: int, end: int) -> None:
        self.server = server
        uri, task = args.uri, args.task
        self.task = task
        self.title = task_spec(task).title
        item = task_input(server.workspace.get_text_document(uri), task, start, end)
        self.item = with_clues(item, args.problems, args.line, args.selected_lines() is not None)
        self.model = server.get_router().effective_model(task)
        self.session = RewriteSession(server, uri, start, end, f"Free-S_Code: {self.title}")
        self.stream = StreamingRewrite(self.item.code, self.item.language)
        self.state = JobState.PENDING
        self.message = "cancelled"
        self.tokens = 0
        self.outcome: TaskOutcome | None = None
        self._cancel_asked = False
        self._arrived = asyncio.Event()
        self._generation: asyncio.Future[TaskOutcome] | None = None

    def cancel(self, reason: str) -> None:
        """Stop for the user (or a closed document, or a shutdown); nothing more is applied."""
        self._cancel_asked = True
        self.session.stop(reason)

    async def run(self) -> TaskResult:
        """Stream, apply the answer, and say how it ended; the job is in a final state after this."""
        generation = self._start()
        progress = Progress(self.server, f"{self.title} with {self.model}", self._cancel_from_progress)
        await progress.begin()
        status.report_progress(self.server, self.task, self.model, "streaming")
        try:
            await self._stream(generation, progress)
            await self._apply_answer(generation.result())
        except RewriteStopped as exc:
            self.message = await self.session.settle(str(exc))
            self.server.tell_user(self.message)
            self.state = moved(self.state, self._why_stopped())
        except asyncio.CancelledError:
            self.message = self.session.stopped or "cancelled"
            self.state = moved(self.state, JobState.CANCELLED)
        finally:
            if not generation.done():
                generation.cancel()
            progress.end(self.message)
        self.outcome = self.outcome or _finished_outcome(generation)
        if self.outcome is not None:
            status.report(self.server, self.outcome, "done" if self.state is JobState.APPLIED else "failed")
        return self.result()

    def result(self) -> TaskResult:
        """What the command answers."""
        applied = self.state is JobState.APPLIED
        model = self.outcome.model if applied and self.outcome is not None else None
        return TaskResult("rewrite", self.message, applied=applied, model=model, edits=self.session.edits_sent)

    def _start(self) -> asyncio.Future[TaskOutcome]:
        """Ask the model; a stop of the session from now on also stops the model."""
        self.state = moved(self.state, JobState.STREAMING)
        settings = self.server.settings.server
        router = self.server.get_router()
        generation = asyncio.ensure_future(run_task(router, self.item, self.model, self._take, settings.max_tokens))
        self._generation = generation
        self.session.on_stop = self._stop_model
        return generation

    def _stop_model(self, _reason: str) -> None:
        """The session stopped: the model's answer is no longer wanted."""
        if self._generation is not None and not self._generation.done():
            self._generation.cancel()

    def _take(self, chunk: Chunk) -> None:
        """A chunk of the answer arrived: count it and wake the streaming loop."""
        if chunk.text:
            self.tokens += 1
            self.stream.feed(chunk.text)
            self._arrived.set()

    async def _stream(self, generation: asyncio.Future[TaskOutcome], progress: Progress) -> None:
        """Apply finished lines as they arrive, one edit in flight, until the model is done."""
        streaming = self.server.settings.server.streaming
        pushed = 0
        while not generation.done():
            arrived = asyncio.ensure_future(self._arrived.wait())
            either: set[asyncio.Future[Any]] = {arrived, generation}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            arrived.cancel()
            self._arrived.clear()
            progress.report(f"{self.tokens} tokens from {self.model}")
            if streaming and self.session.stopped is None:
                done = self.stream.complete_lines()
                if len(done) > pushed:
                    pushed = len(done)
                    await self.session.apply(partial_target(self.session.original, done))
        if self.session.stopped is not None:
            raise RewriteStopped(self.session.stopped)

    async def _apply_answer(self, outcome: TaskOutcome) -> None:
        """Put the whole answer in; with no usable answer, put the original text back and say why."""
        self.outcome = outcome
        session = self.session
        if outcome.text is None:
            if session.expected != session.original:
                await session.apply(session.original)
            raise RewriteStopped(outcome.problem or "the model's answer could not be used")
        if unchanged_answer(self.item, outcome.text):
            if session.expected != session.original:
                await session.apply(session.original)
            self.message = no_change_message(self.title, outcome.model or outcome.requested_model, outcome.tries)
            self.server.tell_user(self.message)
            self.state = moved(self.state, JobState.FAILED)
            return
        await session.apply(split_lines(outcome.text))
        self.message = f"{self.title} done by {outcome.model}"
        self.state = moved(self.state, JobState.APPLIED)

    def _cancel_from_progress(self) -> None:
        self.cancel("cancelled; nothing more is applied")

    def _why_stopped(self) -> JobState:
        """The final state of a job that stopped before its answer was applied."""
        if self._cancel_asked:
            return JobState.CANCELLED
        if self.session.undo or (self.outcome is not None and self.outcome.text is None):
            return JobState.FAILED
        return JobState.STALE


def _finished_outcome(generation: asyncio.Future[TaskOutcome]) -> TaskOutcome | None:
    """The model's outcome when it finished on its own (not cancelled, no error)."""
    if generation.done() and not generation.cancelled() and generation.exception() is None:
        return generation.result()
    return None
