"""Code actions, listed from the request alone (no model call, no parsing); edits resolved on demand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lsprotocol import types

from freescode_lsp.edits.line_endings import keep_line_endings
from freescode_lsp.lsp.features import status
from freescode_lsp.lsp.features.documents import (
    UnusableDocument,
    current_lines,
    open_document,
    task_input,
    task_region,
)
from freescode_lsp.lsp.features.rewrite import eol_of
from freescode_lsp.lsp.features.run_task import COMMAND
from freescode_lsp.lsp.features.verified_candidate import KIND as CANDIDATE_KIND
from freescode_lsp.lsp.features.verified_fix import KIND as VERIFIED_KIND
from freescode_lsp.lsp.features.verified_fix import verified_actions
from freescode_lsp.lsp.protocol.text_documents import find_document
from freescode_lsp.task_table import CODE_ACTION_TASKS, task_spec, verified_task
from freescode_lsp.tasks.repair_context import MAX_PROBLEMS, Problem, with_clues
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs
from freescode_lsp.tasks.retry import no_change_message, unchanged_answer
from freescode_lsp.tasks.runner import run_task

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from freescode_lsp.lsp.server import FreescodeServer


def _wanted(kind: str, only: list[str] | None) -> bool:
    if not only:
        return True
    return any(kind == prefix or kind.startswith(prefix + ".") for prefix in only)


def _resolves_edits(server: FreescodeServer) -> bool:
    """True when the client fills in an action's edit through codeAction/resolve."""
    text_document = server.client_capabilities.text_document
    code_action = text_document.code_action if text_document is not None else None
    support = code_action.resolve_support if code_action is not None else None
    return support is not None and "edit" in support.properties


def list_actions(server: FreescodeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """The actions for the cursor's code unit or the selection, filtered by `context.only`."""
    only = [str(kind) for kind in params.context.only] if params.context.only else None
    selection = params.range
    uri = params.text_document.uri
    document = find_document(server.workspace, uri)
    version = document.version if document is not None else None
    router = server.get_router()
    ours = [d for d in params.context.diagnostics if d.source == "freescode" or (d.source or "").startswith("freescode")]
    seen = problems_of(params.context.diagnostics)
    # With streaming off a rewrite is one edit, resolved on demand; a command too would run it twice in
    # VS Code, which applies the resolved edit and then runs the listed action's command.
    edit_on_resolve = not server.settings.server.streaming and _resolves_edits(server)
    actions: list[types.CodeAction] = []
    for spec in CODE_ACTION_TASKS:
        kind = spec.code_action_kind or ""
        if not _wanted(kind, only):
            continue
        task, title = spec.id, spec.action_title(router.effective_model(spec.id))
        anchor = ours[0].range if spec.answers_diagnostics and ours else selection
        problems = seen if spec.rewrites_code else ()
        args = TaskArgs(uri, task, anchor.start.line, anchor.end.line, anchor.end.character, version, problems)
        command = types.Command(title=title, command=COMMAND, arguments=[args.to_json()])
        action = types.CodeAction(
            title=title,
            kind=kind,
            data=args.to_json(),
            command=None if edit_on_resolve and spec.rewrites_code else command,
        )
        if spec.answers_diagnostics and ours:
            action.diagnostics = ours
            action.is_preferred = True
        actions.append(action)
    if _wanted(VERIFIED_KIND, only):
        anchor = ours[0].range if ours else selection
        actions += verified_actions(router.effective_model(verified_task().id), uri, version, anchor, seen)
    if _wanted(CANDIDATE_KIND, only):
        actions += server.features.verified_fix.candidate_actions(uri, version, selection)
    return actions


def problems_of(diagnostics: Sequence[types.Diagnostic]) -> tuple[Problem, ...]:
    """The diagnostics the editor sent with the request (any source), as the problems a rewrite's prompt names."""
    return tuple(
        Problem(d.message, d.range.start.line, d.range.end.line, d.source) for d in diagnostics[:MAX_PROBLEMS] if d.message
    )


async def resolve_edit(server: FreescodeServer, action: types.CodeAction) -> types.CodeAction:
    """codeAction/resolve: with streaming off, the whole versioned edit; otherwise the action as it is."""
    if server.settings.server.streaming or action.edit is not None or (action.kind or "").startswith(VERIFIED_KIND):
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
    item = with_clues(task_input(document, args.task, start, end), args.problems, args.line, bool(args.selected_lines()))
    outcome = await run_task(server.get_router(), item, None, None, server.settings.server.max_tokens)
    status.report(server, outcome, "done" if outcome.text else "failed")
    if outcome.text is None:
        server.tell_user(outcome.problem or "the model's answer could not be used")
        return action
    if unchanged_answer(item, outcome.text):
        model = outcome.model or outcome.requested_model
        server.tell_user(no_change_message(task_spec(args.task).title, model, outcome.tries))
        return action
    action.edit = types.WorkspaceEdit(
        document_changes=[
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=args.uri, version=version),
                edits=[_replacement(document, start, end, outcome.text)],
            )
        ]
    )
    action.command = None
    return action


def _replacement(document: TextDocument, start: int, end: int, text: str) -> types.TextEdit:
    """One edit putting `text` in place of lines [start, end), with the document's line endings."""
    eol = eol_of(document)
    new_text = keep_line_endings(document.lines[start:end], text, eol)
    end_position = types.Position(end, 0)
    if end >= len(document.lines) and not document.lines[-1].endswith(("\n", "\r")):
        end_position = types.Position(len(document.lines) - 1, document.position_codec.client_num_units(document.lines[-1]))
        new_text = new_text[: -len(eol)] if new_text.endswith(eol) else new_text
    return types.TextEdit(range=types.Range(types.Position(start, 0), end_position), new_text=new_text)


class CodeActions:
    """The code actions feature: listed from the request alone, edits resolved on demand."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server

    def register(self) -> None:
        """Register textDocument/codeAction and codeAction/resolve."""
        kinds = [spec.code_action_kind or "" for spec in CODE_ACTION_TASKS] + [VERIFIED_KIND]
        options = types.CodeActionOptions(code_action_kinds=kinds, resolve_provider=True)

        @self.server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
        def on_code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
            return self.actions(params)

        @self.server.feature(types.CODE_ACTION_RESOLVE)
        async def on_resolve(action: types.CodeAction) -> types.CodeAction:
            return await self.resolve(action)

    def actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        """List Fix / Find bugs / Clean up / Refactor cheaply."""
        return list_actions(self.server, params)

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        """With streaming off, compute the whole edit now; with streaming on, the command streams it."""
        return await resolve_edit(self.server, action)
