"""Work-done progress the user can cancel: the tokens in use and what pressing cancel on each does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer


class ProgressTokens:
    """The progress feature: the cancel handler of each progress shown now."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.on_cancel: dict[str, Callable[[], None]] = {}

    def register(self) -> None:
        """Register window/workDoneProgress/cancel."""

        @self.server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
        def on_cancel(params: types.WorkDoneProgressCancelParams) -> None:
            self.cancelled(params)

    def cancelled(self, params: types.WorkDoneProgressCancelParams) -> None:
        """The user pressed cancel on a task's progress."""
        handler = self.on_cancel.pop(str(params.token), None)
        if handler is not None:
            handler()


class Progress:
    """Server-initiated work-done progress that the user can cancel (a no-op if the client lacks it)."""

    def __init__(self, server: FreescodeServer, title: str, on_cancel: Callable[[], None]) -> None:
        self.server = server
        self.title = title
        self.token: str | None = None
        self.on_cancel = on_cancel

    async def begin(self) -> None:
        """Create a fresh token and show the progress."""
        window = self.server.client_capabilities.window
        if window is None or not window.work_done_progress:
            return
        token = f"freescode-{uuid.uuid4()}"
        try:
            await asyncio.shield(self.server.work_done_progress.create_async(token))
        except Exception:  # noqa: BLE001 - no progress UI, the task still runs
            return
        self.token = token
        self.server.features.progress.on_cancel[token] = self.on_cancel
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
            self.server.features.progress.on_cancel.pop(self.token, None)
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.token = None
