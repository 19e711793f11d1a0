"""An editor emulated on a pytest-lsp client: it applies the server's edits like VS Code or Neovim do.

`Editor` keeps its own copy of each document. On `workspace/applyEdit` VS Code refuses an edit whose
version is not the buffer's; Neovim opens buffers at version 0, numbers later versions by its
changedtick, refuses an edit only when the buffer is newer than it, and checks nothing for version 0.
Changes are reported at once (VS Code) or after a debounce (Neovim, 150 ms). `type()` is the user.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pygls.workspace import TextDocument
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

REPO = Path(__file__).resolve().parent.parent
SERVER_COMMAND = [sys.executable, "-m", "freescode_lsp.server"]


def server_config(env: dict[str, str] | None = None) -> ClientServerConfig:
    """Start the real freescode-lsp over stdio."""
    return ClientServerConfig(server_command=SERVER_COMMAND, server_env=env)


class Editor:
    """The client side of a session: documents, applied edits, and the user's keystrokes."""

    def __init__(self, client: LanguageClient, flavour: str, debounce_s: float | None = None) -> None:
        self.client = client
        self.flavour = flavour
        self.debounce_s = debounce_s if debounce_s is not None else (0.15 if flavour == "neovim" else 0.0)
        self.documents: dict[str, TextDocument] = {}
        self.ticks: dict[str, int] = {}
        self.applied: list[types.ApplyWorkspaceEditParams] = []
        self.refused: list[types.ApplyWorkspaceEditParams] = []
        self.refuse_next: int = 0
        self.before_apply: Callable[[types.ApplyWorkspaceEditParams], Any] | None = None
        self._pending: dict[str, list[types.TextDocumentContentChangePartial]] = {}
        self._flush: dict[str, asyncio.Task[None]] = {}
        async def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            return await self._on_apply_edit(params)

        client.feature(types.WORKSPACE_APPLY_EDIT)(on_apply_edit)
        _read_code_actions_like_editors(client)

    def capabilities(self) -> types.ClientCapabilities:
        """The real editor's capabilities as pytest-lsp records them."""
        return client_capabilities(self.flavour)

    async def initialize(self, options: dict[str, Any] | None = None, root: Path | None = None) -> None:
        """initialize + initialized with the editor's capabilities."""
        name = "Neovim" if self.flavour == "neovim" else "Visual Studio Code"
        await self.client.initialize_session(
            types.InitializeParams(
                capabilities=self.capabilities(),
                client_info=types.ClientInfo(name=name),
                initialization_options=options,
                root_uri=root.as_uri() if root else None,
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")] if root else None,
            )
        )

    def open(self, path: Path, text: str, language: str = "python") -> str:
        """Open a document (Neovim opens at version 0, VS Code at 1)."""
        uri = path.as_uri()
        version = 0 if self.flavour == "neovim" else 1
        self.documents[uri] = TextDocument(uri, text, version=version)
        self.ticks[uri] = 3
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, version, text))
        )
        return uri

    def text(self, uri: str) -> str:
        """The buffer's text now."""
        return self.documents[uri].source

    def version(self, uri: str) -> int:
        """The buffer's version now."""
        return self.documents[uri].version or 0

    def type(self, uri: str, line: int, character: int, text: str, end: tuple[int, int] | None = None) -> None:
        """The user types (or replaces a range) and the editor reports it."""
        end_line, end_character = end if end is not None else (line, character)
        change = types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(line, character), types.Position(end_line, end_character)), text=text
        )
        self._change(uri, [change])

    def _change(self, uri: str, changes: list[types.TextDocumentContentChangePartial]) -> None:
        document = self.documents[uri]
        for change in changes:
            document.apply_change(change)
        if self.flavour == "neovim":
            self.ticks[uri] += 1
            document.version = self.ticks[uri]
        else:
            document.version = (document.version or 0) + 1
        self._pending.setdefault(uri, []).extend(changes)
        if self.debounce_s <= 0:
            self._send_changes(uri)
        elif uri not in self._flush or self._flush[uri].done():
            self._flush[uri] = asyncio.get_running_loop().create_task(self._debounced(uri))

    async def _debounced(self, uri: str) -> None:
        await asyncio.sleep(self.debounce_s)
        self._send_changes(uri)

    def _send_changes(self, uri: str) -> None:
        changes = self._pending.pop(uri, [])
        if not changes:
            return
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.version(uri)),
                content_changes=changes,
            )
        )

    def close(self, uri: str) -> None:
        """Close a document."""
        self.documents.pop(uri, None)
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))

    async def _on_apply_edit(self, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        if self.before_apply is not None:
            outcome = self.before_apply(params)
            if asyncio.iscoroutine(outcome):
                await outcome
        if self.refuse_next > 0:
            self.refuse_next -= 1
            self.refused.append(params)
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="refused by the test")
        for change in params.edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit), change
            uri = change.text_document.uri
            if uri not in self.documents:
                self.refused.append(params)
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="document not open")
            stamped = change.text_document.version
            if self.flavour == "neovim":
                stale = bool(stamped) and stamped > 0 and self.version(uri) > stamped
            else:
                stale = stamped is not None and stamped != self.version(uri)
            if stale:
                self.refused.append(params)
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason=f"version {stamped} is not the buffer's {self.version(uri)}"
                )
        for change in params.edit.document_changes or []:
            edits = sorted(change.edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
            self._change(
                change.text_document.uri,
                [types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in edits],
            )
        self.applied.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)


def _read_code_actions_like_editors(client: LanguageClient) -> None:
    """lsprotocol reads any object with a `command` key as a Command; editors check its type."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


async def run_command(client: LanguageClient, arguments: dict[str, Any]) -> Any:
    """workspace/executeCommand freescode.runTask."""
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="freescode.runTask", arguments=[arguments])
    )
