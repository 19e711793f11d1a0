"""Open documents split into lines the way LSP counts them: only \\n, \\r\\n and \\r end a line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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


def adopt(workspace: Any) -> Any:
    """Turn a freshly made pygls Workspace into an LspWorkspace (it adds no state, so the class can change)."""
    if type(workspace) is Workspace:
        workspace.__class__ = LspWorkspace
    return workspace
