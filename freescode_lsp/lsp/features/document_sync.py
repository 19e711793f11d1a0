"""Document sync: the one place that hears didOpen/didChange/didSave/didClose and tells the subscribers.

pygls has already applied each event to its workspace when the subscribers hear of it. A document whose
server copy may differ from the editor's is "out of sync": tasks on it are refused until the editor sends
it whole again (reopen, or a whole-document change).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

from lsprotocol import types

if TYPE_CHECKING:
    from freescode_lsp.lsp.server import FreescodeServer


class DocumentSubscriber:
    """Something that follows open documents; each hook does nothing unless overridden."""

    def opened(self, uri: str, version: int | None) -> None:
        """The editor opened a document (or this is its first version the server sees)."""

    def changed(self, uri: str, version: int, changes: Sequence[types.TextDocumentContentChangeEvent]) -> None:
        """The editor changed a document; the workspace copy already shows the change."""

    def saved(self, uri: str) -> None:
        """The editor saved a document."""

    def closed(self, uri: str) -> None:
        """The editor closed a document."""

    def lost(self, uri: str, reason: str) -> None:
        """The server's copy of a document may no longer match the editor's."""


Subscriber = TypeVar("Subscriber", bound=DocumentSubscriber)


class DocumentSync:
    """Owns document sync: which documents are out of sync, and who hears about each event."""

    def __init__(self, server: FreescodeServer) -> None:
        self.server = server
        self.subscribers: list[DocumentSubscriber] = []
        self.out_of_sync: dict[str, str] = {}

    def subscribe(self, subscriber: Subscriber) -> Subscriber:
        """Tell `subscriber` about every later event, after those subscribed before it."""
        self.subscribers.append(subscriber)
        return subscriber

    def lost_reason(self, uri: str) -> str | None:
        """Why the document is out of sync, or None when the server's copy can be trusted."""
        return self.out_of_sync.get(uri)

    def lose_sync(self, uri: str, reason: str) -> None:
        """The server's copy of a document may differ from the editor's: stop work on it and pause its tasks."""
        first = uri not in self.out_of_sync
        self.out_of_sync[uri] = reason
        for subscriber in self.subscribers:
            subscriber.lost(uri, reason)
        if first:
            name = uri.rsplit("/", 1)[-1]
            self.server.window_show_message(
                types.ShowMessageParams(
                    types.MessageType.Warning,
                    f"Free-S_Code: {reason} in {name}. Tasks on {name} are paused until you close and reopen it.",
                )
            )

    def opened(self, params: types.DidOpenTextDocumentParams) -> None:
        """A document opened: it is whole again."""
        uri = params.text_document.uri
        self.out_of_sync.pop(uri, None)
        for subscriber in self.subscribers:
            subscriber.opened(uri, params.text_document.version)

    def changed(self, params: types.DidChangeTextDocumentParams) -> None:
        """A document changed: a whole-document change brings it back in sync."""
        uri, version = params.text_document.uri, params.text_document.version
        if any(isinstance(c, types.TextDocumentContentChangeWholeDocument) for c in params.content_changes):
            self.out_of_sync.pop(uri, None)
        for subscriber in self.subscribers:
            subscriber.changed(uri, version, params.content_changes)

    def saved(self, params: types.DidSaveTextDocumentParams) -> None:
        """A document was saved."""
        for subscriber in self.subscribers:
            subscriber.saved(params.text_document.uri)

    def closed(self, params: types.DidCloseTextDocumentParams) -> None:
        """A document closed: nothing about it is kept."""
        uri = params.text_document.uri
        self.out_of_sync.pop(uri, None)
        for subscriber in self.subscribers:
            subscriber.closed(uri)

    def register(self) -> None:
        """Wire the four document sync notifications."""

        @self.server.feature(types.TEXT_DOCUMENT_DID_OPEN)
        def on_open(params: types.DidOpenTextDocumentParams) -> None:
            self.opened(params)

        @self.server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
        def on_change(params: types.DidChangeTextDocumentParams) -> None:
            self.changed(params)

        @self.server.feature(types.TEXT_DOCUMENT_DID_SAVE)
        def on_save(params: types.DidSaveTextDocumentParams) -> None:
            self.saved(params)

        @self.server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
        def on_close(params: types.DidCloseTextDocumentParams) -> None:
            self.closed(params)
