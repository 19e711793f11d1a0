"""freescode.fixVerified: a fix checked against the user's own check in a scratch copy before it lands.

A candidate that passed goes into the buffer the way a streamed rewrite's finished answer does (a RewriteSession:
versioned, seen landing in a didChange, re-based past the user's typing, undone if the editor keeps it out). When
none passed, the best one that passed more tests than the original is offered as its own code action.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from freescode_lsp.config import find_workspace
from freescode_lsp.edits import lines_with_ends, split_lines
from freescode_lsp.errors import FreescodeError
from freescode_lsp.lsp.features.document_sync import DocumentSubscriber
from freescode_lsp.lsp.features.documents import UnusableDocument, current_lines, open_document, task_input, task_region
from freescode_lsp.lsp.features.progress import Progress
from freescode_lsp.lsp.features.rewrite import RewriteSession, RewriteStopped
from freescode_lsp.lsp.features.task_result import TaskResult
from freescode_lsp.lsp.features.verified_candidate import APPLY_COMMAND, Candidate, better_candidate, candidate_action
from freescode_lsp.lsp.protocol.text_documents import find_document
from freescode_lsp.task_table import verified_task
from freescode_lsp.tasks.repair_context import Problem, with_clues
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs
from freescode_lsp.verify.detect import ChosenCheck, choose_check
from freescode_lsp.verify.loop import CheckLimits, FixTarget, VerifyResult, verify_fix

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.lsp.server import FreescodeServer

COMMAND = "freescode.fixVerified"
KIND = "quickfix.freescode.fixVerified"
UNTRUSTED_CHECK = "verify.command"
SHOWN_DIFF_CHARS = 2_000
NO_CANDIDATE = "no unverified candidate to apply in this file any more; run Fix and verify again"


def action_title(model: str) -> str:
    """The code action's title."""
    return f"Fix and verify with {model}"


class Refused(FreescodeError):
    """The verified fix cannot start; the message says why, for the user."""


class VerifiedFix(DocumentSubscriber):
    """The verified-fix feature: one loop per document at a time, cancellable from its progress; the best unverified
    candidate of each document kept for its code action while the document is unchanged."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.running: dict[str, asyncio.Task[VerifyResult]] = {}
        self.landing: dict[str, RewriteSession] = {}
        self.candidates: dict[str, Candidate] = {}

    def register(self) -> None:
        """Register the commands and follow document sync while an edit lands."""
        self.server.features.documents.subscribe(self)

        @self.server.command(COMMAND)
        async def fix_verified_command(ls: Any, *args: Any) -> dict[str, Any]:
            """Fix and verify; arguments: one TaskArgs object."""
            result = await self.run(args[0] if args else None)
            return result.to_json()

        @self.server.command(APPLY_COMMAND)
        async def apply_candidate_command(ls: Any, *args: Any) -> dict[str, Any]:
            """Apply the kept unverified candidate; arguments: one {uri, version} object."""
            result = await self.apply_candidate(args[0] if args else None)
            return result.to_json()

    async def run(self, raw_args: object) -> TaskResult:
        """Run the loop with progress; apply a verified candidate if the document did not change meanwhile."""
        server = self.server
        try:
            args = TaskArgs.from_json(raw_args)
            document = open_document(server, args.uri)
            args = current_lines(server, args, document.version)
            start, end = task_region(document, args)
            target, check = self._target(document, start, end)
            if args.uri in self.running or args.uri in self.landing:
                raise Refused("a verified fix is already running in this file; wait for it or cancel it")
        except (BadTaskArgs, UnusableDocument, Refused) as exc:
            server.tell_user(str(exc))
            return TaskResult.refused(str(exc))
        self.candidates.pop(args.uri, None)
        version = document.version
        item = with_clues(
            task_input(document, verified_task().id, start, end), args.problems, args.line, bool(args.selected_lines())
        )
        verify = server.settings.verify
        limits = CheckLimits(verify.attempts, verify.timeout_s, verify.max_output_bytes)
        router = server.get_router()
        model = router.effective_model(verified_task().id)

        def report(message: str) -> None:
            progress.report(message)

        ceiling = server.settings.server.max_tokens
        loop = asyncio.ensure_future(verify_fix(router, item, target, check, limits, None, report, None, ceiling))
        progress = Progress(server, action_title(model), lambda: _cancel(loop))
        await progress.begin()
        self.running[args.uri] = loop
        try:
            result = await loop
        except asyncio.CancelledError:
            progress.end("cancelled")
            return TaskResult("rewrite", "the verified fix was cancelled")
        except (OSError, FreescodeError) as exc:
            progress.end("failed")
            server.tell_user(f"cannot verify: {exc}")
            return TaskResult("rewrite", str(exc))
        finally:
            self.running.pop(args.uri, None)
        progress.end(result.status())
        return await self._deliver(args.uri, version, target, result)

    def _target(self, document: TextDocument, start: int, end: int) -> tuple[FixTarget, ChosenCheck]:
        """The file in its workspace and the check to run, or Refused saying why not."""
        path = to_fs_path(document.uri)
        if path is None or not document.uri.startswith("file:"):
            raise Refused("only files on disk can be verified")
        file = Path(path).resolve()
        workspace = find_workspace(file.parent)
        if UNTRUSTED_CHECK in self.server.loaded.untrusted:
            raise Refused(
                "the [verify] command of this workspace's freescode.toml is not run until you trust the file "
                f"(`freescode trust {workspace}`)"
            )
        relative = file.relative_to(workspace)
        try:
            check = choose_check(workspace, relative, self.server.settings.verify.command)
        except FreescodeError as exc:
            raise Refused(f"cannot verify: {exc}") from exc
        return FixTarget(workspace, relative, document.source, start, end), check

    async def _deliver(self, uri: str, version: int | None, target: FixTarget, result: VerifyResult) -> TaskResult:
        """A verified candidate lands in the region; otherwise the best one is shown and kept for its code action."""
        won = result.passed
        if won is None or won.candidate is None:
            candidate = better_candidate(uri, version, target, result)
            if candidate is not None:
                self.candidates[uri] = candidate
            self.server.tell_user(_not_verified(result, target, candidate))
            return TaskResult("rewrite", result.status(), model=_model(result))
        return await self._land(uri, version, target.start, target.end, won.candidate, result.status(), won.outcome.model)

    async def _land(
        self, uri: str, version: int | None, start: int, end: int, text: str, done: str, model: str | None
    ) -> TaskResult:
        """Put `text` in place of lines [start, end) if the document is still at `version`; say how it ended."""
        now = find_document(self.server.workspace, uri)
        if now is None or now.version != version:
            message = f"{done}, but the file changed since the check ran; not applied"
            self.server.tell_user(message)
            return TaskResult("rewrite", message)
        session = RewriteSession(self.server, uri, start, end, f"Free-S_Code: {done}")
        self.landing[uri] = session
        try:
            await session.apply(split_lines(text))
        except RewriteStopped as exc:
            message = await session.settle(f"{done}, but {exc}")
            self.server.tell_user(message)
            return TaskResult("rewrite", message, edits=session.edits_sent)
        finally:
            self.landing.pop(uri, None)
        self.server.tell_user(done, types.MessageType.Info)
        return TaskResult("rewrite", done, applied=True, model=model, edits=session.edits_sent)

    async def apply_candidate(self, raw_args: object) -> TaskResult:
        """Apply the kept best unverified candidate, refused when the document changed since it was checked."""
        uri = raw_args.get("uri") if isinstance(raw_args, dict) else None
        candidate = self.candidates.get(uri) if isinstance(uri, str) else None
        if candidate is None or not isinstance(raw_args, dict) or raw_args.get("version") != candidate.version:
            self.server.tell_user(NO_CANDIDATE)
            return TaskResult.refused(NO_CANDIDATE)
        if candidate.uri in self.landing or candidate.uri in self.running:
            message = "a verified fix is running in this file; wait for it or cancel it"
            self.server.tell_user(message)
            return TaskResult.refused(message)
        del self.candidates[candidate.uri]
        return await self._land(
            candidate.uri, candidate.version, candidate.start, candidate.end, candidate.text, candidate.done, candidate.model
        )

    def candidate_actions(self, uri: str, version: int | None, selection: types.Range) -> list[types.CodeAction]:
        """The "Apply best unverified candidate" action, while the document is as it was checked."""
        candidate = self.candidates.get(uri)
        if candidate is None or candidate.version != version or not candidate.overlaps(selection):
            return []
        return [candidate_action(candidate)]

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """A landing edit follows the change; a kept candidate is for an older version now, so it goes."""
        session = self.landing.get(uri)
        if session is not None:
            session.on_change(changes)
        candidate = self.candidates.get(uri)
        if candidate is not None and candidate.version != version:
            del self.candidates[uri]

    def closed(self, uri: str) -> None:
        """A closed document's loop stops, its landing edit too, and its candidate goes."""
        if (loop := self.running.get(uri)) is not None:
            loop.cancel()
        self.lost(uri, "the document was closed")

    def lost(self, uri: str, reason: str) -> None:
        """A document out of sync gets no edit and keeps no candidate."""
        if (session := self.landing.get(uri)) is not None:
            session.stop(reason)
        self.candidates.pop(uri, None)


def _cancel(loop: asyncio.Future[VerifyResult]) -> None:
    """Stop the loop: the model call at its next await, a running check with its whole process group."""
    loop.cancel()


def _model(result: VerifyResult) -> str | None:
    return result.attempts[-1].outcome.model if result.attempts else None


def _not_verified(result: VerifyResult, target: FixTarget, offered: Candidate | None) -> str:
    """The message when none passed: the status, the best candidate as a diff, and the last check's output."""
    best = result.best
    last = result.last_check.output.strip()[-SHOWN_DIFF_CHARS:]
    if best is None or best.candidate is None or best.check is None:
        return f"{result.status()}; nothing applied. Last check output:\n{last}"
    counts = f"{best.check.tests_passed()} tests passed, the original {result.original.tests_passed()}"
    after = target.with_region(best.candidate)
    diff = "".join(difflib.unified_diff(lines_with_ends(target.text), lines_with_ends(after), "before", "after"))
    how = f' To apply it anyway, use the code action "{offered.title}".' if offered is not None else ""
    return (
        f"{result.status()}; nothing applied. Best candidate (attempt {best.number}, {counts}):{how}\n"
        f"{diff[:SHOWN_DIFF_CHARS]}\nLast check output:\n{last}"
    )


def verified_actions(
    model: str,
    uri: str,
    version: int | None,
    anchor: types.Range,
    problems: tuple[Problem, ...],
) -> list[types.CodeAction]:
    """The "Fix and verify" action, listed next to "Fix" without running anything."""
    args = TaskArgs(uri, verified_task().id, anchor.start.line, anchor.end.line, anchor.end.character, version, problems)
    title = action_title(model)
    command = types.Command(title=title, command=COMMAND, arguments=[args.to_json()])
    return [types.CodeAction(title=title, kind=KIND, command=command, data=args.to_json())]
