"""Initialize, settings from the editor, and a clean shutdown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from freescode_lsp.config.trust import WORKSPACE_FILE

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer

SECTION = "freescode"


class Lifecycle:
    """Initialize, settings from the editor, and a clean shutdown."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server

    def register(self) -> None:
        """Wire initialize, configuration and shutdown."""

        @self.server.feature(types.INITIALIZE)
        def on_initialize(params: types.InitializeParams) -> None:
            self.initialize(params)

        @self.server.feature(types.INITIALIZED)
        async def on_initialized(params: types.InitializedParams) -> None:
            """Ask the client for the `freescode` section when it can answer."""
            await pull_configuration(self.server)

        @self.server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
        def on_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
            """freescode.toml changed (VS Code's extension watches it; other editors' changes count at the next reload)."""
            self.files_changed(params)

        @self.server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
        async def on_configuration(params: types.DidChangeConfigurationParams) -> None:
            await self.configuration_changed(params)

        @self.server.feature(types.SHUTDOWN)
        async def on_shutdown(params: None) -> None:
            await self.shutdown()

    def initialize(self, params: types.InitializeParams) -> None:
        """Take `initializationOptions` (same schema as freescode.toml, or {freescode: ...}).

        Anything else beside the section, such as an editor's `workspaceTrusted`, is not read: only the user's
        answer to the server's own question trusts a workspace's freescode.toml.
        """
        ls = self.server
        ls.client_name = params.client_info.name if params.client_info else None
        options = params.initialization_options
        if isinstance(options, dict) and SECTION in options and isinstance(options[SECTION], dict):
            options = options[SECTION]
        ls.reload_settings(options, initial=True)

    async def configuration_changed(self, params: types.DidChangeConfigurationParams) -> None:
        """Apply changed settings without a restart."""
        ls = self.server
        pushed = params.settings
        if isinstance(pushed, dict) and isinstance(pushed.get(SECTION), dict):
            ls.reload_settings(pushed[SECTION])
        elif not await pull_configuration(ls):
            ls.reload_settings()

    def files_changed(self, params: types.DidChangeWatchedFilesParams) -> None:
        """Read the settings again when the workspace's freescode.toml changed: new content is asked about again."""
        root = self.server.workspace_root()
        if root is None:
            return
        target = root / WORKSPACE_FILE
        if any(_path_of(event.uri) == target for event in params.changes):
            self.server.reload_settings()

    async def shutdown(self) -> None:
        """Stop running rewrites and unload models."""
        ls = self.server
        ls.features.run_task.stop_all("the server is shutting down")
        if ls.router is not None:
            await ls.router.aclose()


async def pull_configuration(ls: FreescodeServer) -> bool:
    """Fetch `workspace/configuration` for our section; False when the client cannot answer."""
    capabilities = ls.client_capabilities.workspace
    if capabilities is None or not capabilities.configuration:
        return False
    try:
        answer: Any = await asyncio.shield(
            ls.workspace_configuration_async(types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)]))
        )
    except Exception as exc:  # noqa: BLE001 - a client that fails here keeps the settings we have
        ls.log_info(f"workspace/configuration failed: {exc}")
        return False
    value = answer[0] if isinstance(answer, (list, tuple)) and answer else None
    if value is None:
        return True
    ls.reload_settings(value if isinstance(value, dict) else value)
    return True


def _path_of(uri: str) -> Path | None:
    path = to_fs_path(uri)
    return Path(path) if path else None
