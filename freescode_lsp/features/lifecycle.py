"""Settings from the editor, document events routed to running rewrites, and a clean shutdown."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from freescode_lsp.server import FreescodeServer

SECTION = "freescode"
TRUSTED = "workspaceTrusted"  # beside the section: the editor vouches for the workspace (VS Code's workspace trust)


def register(server: FreescodeServer) -> None:
    """Wire initialize, configuration, document sync hooks and shutdown."""

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: FreescodeServer, params: types.InitializeParams) -> None:
        """Take `initializationOptions` (same schema as freescode.toml, or {freescode: ..., workspaceTrusted})."""
        ls.client_name = params.client_info.name if params.client_info else None
        options = params.initialization_options
        if isinstance(options, dict) and options.get(TRUSTED) is True:
            ls.workspace_trusted = True
        if isinstance(options, dict) and SECTION in options and isinstance(options[SECTION], dict):
            options = options[SECTION]
        ls.reload_settings(options, initial=True)

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: FreescodeServer, params: types.InitializedParams) -> None:
        """Ask the client for the `freescode` section when it can answer."""
        await pull_configuration(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: FreescodeServer, params: types.DidChangeConfigurationParams) -> None:
        """Apply changed settings without a restart."""
        pushed = params.settings
        if isinstance(pushed, dict) and isinstance(pushed.get(SECTION), dict):
            ls.reload_settings(pushed[SECTION])
        elif not await pull_configuration(ls):
            ls.reload_settings()

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def on_change(ls: FreescodeServer, params: types.DidChangeTextDocumentParams) -> None:
        """Let a rewrite running in this document follow the change (or stop, if it touched the region)."""
        session = ls.sessions.get(params.text_document.uri)
        if session is not None:
            session.on_change(params)
        if any(isinstance(c, types.TextDocumentContentChangeWholeDocument) for c in params.content_changes):
            ls.out_of_sync.pop(params.text_document.uri, None)
        ls.line_history.changed(params.text_document.uri, params.text_document.version, params.content_changes)
        from freescode_lsp.features.diagnostics import on_document_changed

        on_document_changed(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(ls: FreescodeServer, params: types.DidCloseTextDocumentParams) -> None:
        """A rewrite of a closed document stops; its diagnostics are cleared."""
        session = ls.sessions.get(params.text_document.uri)
        if session is not None:
            session.stop("the document was closed")
        ls.out_of_sync.pop(params.text_document.uri, None)
        ls.line_history.closed(params.text_document.uri)
        from freescode_lsp.features.diagnostics import on_document_closed

        on_document_closed(ls, params.text_document.uri)

    @server.feature(types.SHUTDOWN)
    async def on_shutdown(ls: FreescodeServer, params: None) -> None:
        """Stop running rewrites and unload models."""
        for session in list(ls.sessions.values()):
            session.stop("the server is shutting down")
        if ls.router is not None:
            await ls.router.aclose()


async def pull_configuration(ls: FreescodeServer) -> bool:
    """Fetch `workspace/configuration` for our section; False when the client cannot answer."""
    capabilities = ls.client_capabilities.workspace
    if capabilities is None or not capabilities.configuration:
        return False
    try:
        answer: Any = await asyncio.shield(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            )
        )
    except Exception as exc:  # noqa: BLE001 - a client that fails here keeps the settings we have
        ls.log_info(f"workspace/configuration failed: {exc}")
        return False
    value = answer[0] if isinstance(answer, (list, tuple)) and answer else None
    if value is None:
        return True
    ls.reload_settings(value if isinstance(value, dict) else value)
    return True
