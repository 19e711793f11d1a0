"""Code actions, listed from the request alone (no model call, no parsing); edits resolved on demand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from freescode_lsp.task_table import CODE_ACTION_TASKS, RUN_TASK_COMMAND
from freescode_lsp.tasks.requests import TaskArgs
from freescode_lsp.text_documents import find_document

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

COMMAND = RUN_TASK_COMMAND


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
    # With streaming off a rewrite is one edit, resolved on demand; a command too would run it twice in
    # VS Code, which applies the resolved edit and then runs the listed action's command.
    edit_on_resolve = not server.settings.server.streaming and _resolves_edits(server)
    actions: list[types.CodeAction] = []
    for spec in CODE_ACTION_TASKS:
        kind = spec.code_action_kind or ""
        if not _wanted(kind, only):
            continue
        task, title = spec.id, spec.action_title(router.effective_model(spec.id))
        anchor = ours[0].range if task == "fix" and ours else selection
        args = TaskArgs(uri, task, anchor.start.line, anchor.end.line, anchor.end.character, version)
        command = types.Command(title=title, command=COMMAND, arguments=[args.to_json()])
        action = types.CodeAction(
            title=title,
            kind=kind,
            data=args.to_json(),
            command=None if edit_on_resolve and spec.rewrites_code else command,
        )
        if task == "fix" and ours:
            action.diagnostics = ours
            action.is_preferred = True
        actions.append(action)
    return actions


def register(server: FreescodeServer) -> None:
    """Register textDocument/codeAction and codeAction/resolve."""

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[spec.code_action_kind or "" for spec in CODE_ACTION_TASKS], resolve_provider=True
        ),
    )
    def code_actions(ls: FreescodeServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        """List Fix / Find bugs / Clean up / Refactor cheaply."""
        return list_actions(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: FreescodeServer, action: types.CodeAction) -> types.CodeAction:
        """With streaming off, compute the whole edit now; with streaming on, the command streams it."""
        from freescode_lsp.features.commands import resolve_edit

        return await resolve_edit(ls, action)

