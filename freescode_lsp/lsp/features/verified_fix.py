"""freescode.fixVerified: a fix checked against the user's own check in a scratch copy before it lands."""

from __future__ import annotations

import asyncio
import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from freescode_lsp.config import find_workspace
from freescode_lsp.edits import lines_with_ends
from freescode_lsp.edits.line_endings import keep_line_endings
from freescode_lsp.errors import FreescodeError
from freescode_lsp.lsp.features.documents import UnusableDocument, current_lines, open_document, task_input, task_region
from freescode_lsp.lsp.features.progress import Progress
from freescode_lsp.lsp.features.rewrite import eol_of
from freescode_lsp.lsp.features.task_result import TaskResult
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


def action_title(model: str) -> str:
    """The code action's title."""
    return f"Fix and verify with {model}"


class Refused(FreescodeError):
    """The verified fix cannot start; the message says why, for the user."""


class VerifiedFix:
    """The verified-fix feature: one loop per document at a time, cancellable from its progress."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.running: dict[str, asyncio.Task[VerifyResult]] = {}

    def register(self) -> None:
        """Register the command."""

        @self.server.command(COMMAND)
        async def fix_verified_command(ls: Any, *args: Any) -> dict[str, Any]:
            """Fix and verify; arguments: one TaskArgs object."""
            result = await self.run(args[0] if args else None)
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
            if args.uri in self.running:
                raise Refused("a verified fix is already running in this file; wait for it or cancel it")
        except (BadTaskArgs, UnusableDocument, Refused) as exc:
            server.tell_user(str(exc))
            return TaskResult.refused(str(exc))
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
        return await self._deliver(args.uri, version, document, target, result)

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

    async def _deliver(
        self, uri: str, version: int | None, document: TextDocument, target: FixTarget, result: VerifyResult
    ) -> TaskResult:
        """A verified candidate as one versioned edit of the region; otherwise the best one shown, nothing applied."""
        server = self.server
        won = result.passed
        if won is None or won.candidate is None:
            server.tell_user(_not_verified(result, target))
            return TaskResult("rewrite", result.status(), model=_model(result))
        now = find_document(server.workspace, uri)
        if now is None or now.version != version:
            message = f"{result.status()}, but the file changed meanwhile; not applied"
            server.tell_user(message)
            return TaskResult("rewrite", message)
        edit = types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=[_replacement(document, target.start, target.end, won.candidate)],
        )
        answer = await server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(types.WorkspaceEdit(document_changes=[edit]), label=result.status())
        )
        server.tell_user(result.status(), types.MessageType.Info)
        return TaskResult("rewrite", result.status(), applied=bool(answer.applied), model=won.outcome.model, edits=1)


def _cancel(loop: asyncio.Future[VerifyResult]) -> None:
    """Stop the loop: the model call at its next await, a running check with its whole process group."""
    loop.cancel()


def _model(result: VerifyResult) -> str | None:
    return result.attempts[-1].outcome.model if result.attempts else None


def _not_verified(result: VerifyResult, target: FixTarget) -> str:
    """The message when none passed: the status, the best candidate as a diff, and the last check's output."""
    best = result.best
    last = result.last_check.output.strip()[-SHOWN_DIFF_CHARS:]
    if best is None or best.candidate is None or best.check is None:
        return f"{result.status()}; nothing applied. Last check output:\n{last}"
    counts = f"{best.check.tests_passed()} tests passed, the original {result.original.tests_passed()}"
    after = target.with_region(best.candidate)
    diff = "".join(difflib.unified_diff(lines_with_ends(target.text), lines_with_ends(after), "before", "after"))
    return (
        f"{result.status()}; nothing applied. Best candidate (attempt {best.number}, {counts}):\n"
        f"{diff[:SHOWN_DIFF_CHARS]}\nLast check output:\n{last}"
    )


def _replacement(document: TextDocument, start: int, end: int, text: str) -> types.TextEdit:
    """One edit putting `text` in place of lines [start, end), with the document's line endings."""
    eol = eol_of(document)
    new_text = keep_line_endings(document.lines[start:end], text, eol)
    end_position = types.Position(end, 0)
    if end >= len(document.lines) and not document.lines[-1].endswith(("\n", "\r")):
        end_position = types.Position(len(document.lines) - 1, document.position_codec.client_num_units(document.lines[-1]))
        new_text = new_text[: -len(eol)] if new_text.endswith(eol) else new_text
    return types.TextEdit(range=types.Range(types.Position(start, 0), end_position), new_text=new_text)


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
