"""Open documents split into lines the way LSP counts them: only \\n, \\r\\n and \\r end a line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from pygls.workspace import TextDocument, Workspace

from freescode_lsp.edits import lines_with_ends


class LspTextDocument(TextDocument):
    """pygls' document, but `str.splitlines` would also break at \\x0c, \\x1c-\\x1e, \\x85, U+2028 and U+2029."""

    @property
    def lines(self) -> Sequence[str]:
        """The document's lines as the editor numbers them."""
        return tuple(lines_with_ends(self.source))


class LspWorkspace(Workspace):
    """pygls' workspace creating LspTextDocuments."""

    def _create_text_document(
        self, doc_uri: str, source: str | None = None, version: int | None = None, language_id: str | None = None
    ) -> TextDocument:
        return LspTextDocument(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self._position_codec,
        )


def find_document(workspace: Workspace, uri: str) -> TextDocument | None:
    """The open document the client calls `uri`, found under the key the workspace itself stores it by.

    Editors percent-encode URIs each in their own way; pygls keeps documents under its own normal form,
    so a lookup with the raw URI misses a file in `my project/`. `get_text_document` applies that normal
    form but makes up a document for a file that is not open, so only one the workspace holds is returned.
    """
    try:
        document = workspace.get_text_document(uri)
    except (ValueError, TypeError):
        return None
    return document if any(document is held for held in workspace.text_documents.values()) else None


def file_name(uri: str) -> str:
    """The last part of a URI, decoded, for messages the user reads."""
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


def adopt(workspace: Any) -> Any:
    """Turn a freshly made pygls Workspace into an LspWorkspace (it adds no state, so the class can change)."""
    if type(workspace) is Workspace:
        workspace.__class__ = LspWorkspace
    return workspace
