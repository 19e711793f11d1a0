"""An editor emulated on a pytest-lsp client: it applies the server's edits like VS Code or Neovim do.

`Editor` keeps its own copy of each document. On `workspace/applyEdit` VS Code refuses an edit whose
version is not the buffer's; Neovim opens buffers at version 0, numbers later versions by its
changedtick, checks nothing for version 0, and drops an edit only when the buffer is newer than it,
silently: it answers "applied" all the same. Changes are reported at once (VS Code) or, in Neovim,
150 ms after the last report (150 ms after the first change before any), coalesced. `type()` is the user.
Positions count in the encoding the server negotiated; `perform()` runs a code action as the editor does.
Tests wait on events, not time: `flushed()` until the changes are reported, `settled()` until the server answered after.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

import attrs
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from freescode_lsp.testing.preloaded import module_command

SERVER_COMMAND = module_command("freescode_lsp.lsp.server")


class EditorBuffer(TextDocument):
    """A buffer that breaks lines where editors do (\\n, \\r\\n, \\r), not at every str.splitlines separator."""

    @property
    def lines(self) -> tuple[str, ...]:
        """The buffer's lines with their endings."""
        return tuple(re.findall(r".*?(?:\r\n|\r|\n)|.+\Z", self.source, re.DOTALL))


def vscode_uri(path: str) -> str:
    """The URI VS Code sends for a file path: a lower-case drive letter, and every byte but
    `A-Za-z0-9-._~/` percent-encoded, the drive's colon too (vscode-uri's encodeURIComponentFast)."""
    path = path.replace("\\", "/")
    if re.match(r"[A-Za-z]:", path):
        path = "/" + path[0].lower() + path[1:]
    return "file://" + quote(path, safe="/-._~")


def neovim_uri(path: str) -> str:
    """The URI Neovim sends for a file path (vim.uri_from_fname): RFC 3986's sub-delims, `:` and `@` kept,
    a Windows drive letter kept as it is."""
    path = path.replace("\\", "/")
    drive = re.match(r"[A-Za-z]:", path)
    encoded = quote(path[2:] if drive else path, safe="/-._~!$&'()*+,;=:@")
    return "file:///" + path[:2] + encoded if drive else "file://" + encoded


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
        self.dropped: list[types.TextDocumentEdit] = []
        self.refuse_next: int = 0
        self.before_apply: Callable[[types.ApplyWorkspaceEditParams], Any] | None = None
        self.encoding: str = types.PositionEncodingKind.Utf16
        self.statuses: list[dict[str, Any]] = []
        self.questions: list[types.ShowMessageRequestParams] = []
        self.answer: str | Callable[[types.ShowMessageRequestParams], str | None] | None = None
        self._pending: dict[str, list[types.TextDocumentContentChangePartial]] = {}
        self._flush: dict[str, asyncio.TimerHandle] = {}
        self._last_flush: dict[str, float] = {}
        self._reported = asyncio.Event()

        async def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            return await self._on_apply_edit(params)

        def on_status(params: Any) -> None:
            self.statuses.append(_plain(params))

        async def on_question(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
            self.questions.append(params)
            title = self.answer(params) if callable(self.answer) else self.answer
            return types.MessageActionItem(title) if title else None

        client.feature(types.WORKSPACE_APPLY_EDIT)(on_apply_edit)
        client.feature("freescode/status")(on_status)
        client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)(on_question)
        _read_code_actions_like_editors(client)

    def capabilities(self, position_encodings: list[str] | None = None) -> types.ClientCapabilities:
        """The real editor's capabilities as pytest-lsp records them, optionally offering other encodings."""
        capabilities = client_capabilities(self.flavour)
        if position_encodings is not None:
            general = capabilities.general or types.GeneralClientCapabilities()
            capabilities = attrs.evolve(capabilities, general=attrs.evolve(general, position_encodings=list(position_encodings)))
        return capabilities

    async def initialize(
        self,
        options: dict[str, Any] | None = None,
        root: Path | None = None,
        position_encodings: list[str] | None = None,
    ) -> types.InitializeResult:
        """initialize + initialized with the editor's capabilities; documents use the negotiated encoding."""
        name = "Neovim" if self.flavour == "neovim" else "Visual Studio Code"
        result = await self.client.initialize_session(
            types.InitializeParams(
                capabilities=self.capabilities(position_encodings),
                client_info=types.ClientInfo(name=name),
                initialization_options=options,
                root_uri=root.as_uri() if root else None,
                workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="ws")] if root else None,
            )
        )
        self.encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
        return result

    def uri_for(self, path: Path | str) -> str:
        """The URI this editor sends for a file path."""
        return neovim_uri(str(path)) if self.flavour == "neovim" else vscode_uri(str(path))

    def open(self, path: Path | str, text: str, language: str = "python") -> str:
        """Open a document under the URI the editor would send (Neovim opens at version 0, VS Code at 1)."""
        uri = self.uri_for(path)
        version = 0 if self.flavour == "neovim" else 1
        self.documents[uri] = EditorBuffer(uri, text, version=version, position_codec=PositionCodec(self.encoding))
        self.ticks[uri] = 3
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, version, text)))
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
        timer = self._flush.pop(uri, None)
        if timer is not None:
            timer.cancel()
        delay = self._delay(uri)
        if delay <= 0:
            self._send_changes(uri)
        else:
            self._flush[uri] = asyncio.get_running_loop().call_later(delay, self._send_changes, uri)

    def _delay(self, uri: str) -> float:
        """Neovim's debounce is a rate limit: what is left of it since the last report, all of it before one."""
        if self.debounce_s <= 0:
            return 0.0
        last = self._last_flush.get(uri)
        if last is None:
            return self.debounce_s
        return max(self.debounce_s - (asyncio.get_running_loop().time() - last), 0.0)

    def _send_changes(self, uri: str) -> None:
        self._flush.pop(uri, None)
        self._reported.set()
        changes = self._pending.pop(uri, [])
        if not changes or uri not in self.documents:
            return
        if self.debounce_s > 0:
            self._last_flush[uri] = asyncio.get_running_loop().time()
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.version(uri)),
                content_changes=changes,
            )
        )

    async def flushed(self) -> None:
        """Until every change made so far is reported to the server (at once in VS Code, after Neovim's debounce)."""
        while self._flush:
            self._reported.clear()
            await self._reported.wait()

    async def settled(self, uri: str) -> None:
        """Until the changes are reported and a request about the document is answered: the server has read every
        message sent before it, and whatever it sent before answering (an edit, a notification) has arrived here."""
        await self.flushed()
        here = types.Position(0, 0)
        await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(here, here),
                context=types.CodeActionContext(diagnostics=[]),
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
        dropped = len(self.dropped)
        result = self.apply_workspace_edit(params.edit)
        if not result.applied:
            self.refused.append(params)
        elif len(self.dropped) == dropped:
            self.applied.append(params)
        return result

    def apply_workspace_edit(self, edit: types.WorkspaceEdit) -> types.ApplyWorkspaceEditResult:
        """Apply versioned document edits the way the editor checks and applies them.

        Neovim checks only the first document's version and skips that document's edits when its buffer is
        newer, printing "newer than edits" and answering applied; VS Code refuses the whole edit.
        """
        kept: list[types.TextDocumentEdit] = []
        for index, change in enumerate(edit.document_changes or []):
            assert isinstance(change, types.TextDocumentEdit), change
            uri = change.text_document.uri
            if uri not in self.documents:
                return types.ApplyWorkspaceEditResult(applied=False, failure_reason="document not open")
            stamped = change.text_document.version
            if self.flavour == "neovim":
                if index == 0 and stamped is not None and stamped > 0 and self.version(uri) > stamped:
                    self.dropped.append(change)
                    continue
            elif stamped is not None and stamped != self.version(uri):
                return types.ApplyWorkspaceEditResult(
                    applied=False, failure_reason=f"version {stamped} is not the buffer's {self.version(uri)}"
                )
            kept.append(change)
        for change in kept:
            plain = [e for e in change.edits if not isinstance(e, types.SnippetTextEdit)]
            assert len(plain) == len(change.edits), "the server sends no snippet edits"
            edits = sorted(plain, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True)
            self._change(
                change.text_document.uri,
                [types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in edits],
            )
        return types.ApplyWorkspaceEditResult(applied=True)

    async def perform(self, action: types.CodeAction) -> Any:
        """Run a chosen code action as the editor does: resolve it if needed, apply its edit, run its command."""
        if action.edit is None:
            resolved = await self.client.code_action_resolve_async(action)
            # VS Code keeps only the properties its resolveSupport names; Neovim takes the resolved action whole.
            if self.flavour == "neovim":
                action = resolved
            else:
                taken = {name: getattr(resolved, name) for name in _resolvable(self.capabilities())}
                action = attrs.evolve(action, **taken)
        if action.edit is not None:
            assert self.apply_workspace_edit(action.edit).applied, action.edit
        if action.command is not None:
            return await self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
            )
        return None


def _resolvable(capabilities: types.ClientCapabilities) -> list[str]:
    """The code action properties the client lets a server fill in on resolve."""
    code_action = capabilities.text_document.code_action if capabilities.text_document else None
    support = code_action.resolve_support if code_action else None
    return [name for name in (support.properties if support else []) if name in ("edit", "command")]


def _plain(value: Any) -> Any:
    """A notification's params as plain JSON values, whatever object pygls built for them."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


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


def send_raw(client: LanguageClient, message: bytes | dict[str, Any]) -> None:
    """Write one Content-Length framed message straight to the server, unchecked and unconverted."""
    body = message if isinstance(message, bytes) else json.dumps(message).encode("utf-8")
    writer = client.protocol.writer
    assert writer is not None, "the client is not connected"
    writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


async def raw_request(client: LanguageClient, method: str, params: Any) -> Any:
    """A request with plain JSON params, sent as they are; an error answer raises its JsonRpcException."""
    msg_id = str(uuid.uuid4())
    answer: Future[Any] = Future()
    client.protocol._request_futures[msg_id] = answer
    send_raw(client, {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wrap_future(answer)
