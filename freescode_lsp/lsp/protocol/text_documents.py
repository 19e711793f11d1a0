"""Open documents kept as chunks, so that an edit costs what it changes, with lines split only where LSP splits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument, Workspace

from freescode_lsp.edits import lines_with_ends, split_lines
from freescode_lsp.text.chunked_text import ChunkedText, Spot
from freescode_lsp.text.code_units import encoding_name, fast_codec

Made = TypeVar("Made")


class LspTextDocument(TextDocument):
    """pygls' document, except that its text is a ChunkedText: an incremental change copies only the chunks it
    touches and finds its range without reading whole lines; the whole text and its lines are made when asked,
    once per change. Lines break only at \\n, \\r\\n and \\r (`str.splitlines` also breaks at \\x0c, \\x85,
    U+2028...)."""

    def __init__(
        self,
        uri: str,
        source: str | None = None,
        version: int | None = None,
        language_id: str | None = None,
        local: bool = True,
        sync_kind: types.TextDocumentSyncKind = types.TextDocumentSyncKind.Incremental,
        position_codec: PositionCodec | None = None,
    ) -> None:
        self._text: ChunkedText | None = None
        self._made: dict[str, Any] = {}
        codec = fast_codec(position_codec or PositionCodec())
        super().__init__(uri, None, version, language_id, local, sync_kind, codec)
        self._source = source

    @property
    def _source(self) -> str | None:
        return None if self._text is None else self._text.text()

    @_source.setter
    def _source(self, value: str | None) -> None:
        self._made = {}
        self._text = None if value is None else ChunkedText(value, self.encoding)

    @property
    def encoding(self) -> str:
        """The position encoding the client and server agreed on, by name."""
        return encoding_name(self._position_codec.encoding)

    @property
    def chunks(self) -> ChunkedText:
        """The text as chunks (read from disk for a document the editor never sent)."""
        if self._text is None:
            self._text = ChunkedText(super().source, self.encoding)
        return self._text

    @property
    def source(self) -> str:
        """The whole text."""
        return self.chunks.text()

    @property
    def lines(self) -> Sequence[str]:
        """The document's lines with their endings, as the editor numbers them."""
        return self._once("lines", self._split_with_ends)

    @property
    def plain_lines(self) -> tuple[str, ...]:
        """The document's lines without their endings."""
        return self._once("plain_lines", self._split)

    def _split(self) -> tuple[str, ...]:
        """Lines without endings; a text without \\r splits at \\n alone, many times faster than by pattern."""
        source = self.source
        if "\r" in source:
            return tuple(split_lines(source))
        lines = source.split("\n")
        return tuple(lines[:-1] if lines[-1] == "" else lines)

    def _split_with_ends(self) -> tuple[str, ...]:
        """Lines with their endings."""
        source = self.source
        if "\r" in source:
            return tuple(lines_with_ends(source))
        ended = [line + "\n" for line in source.split("\n")]
        ended[-1] = ended[-1][:-1]
        return tuple(ended if ended[-1] else ended[:-1])

    @property
    def size_utf8(self) -> int:
        """The text's size in UTF-8 bytes, kept as it changes."""
        return self.chunks.size_utf8

    def head(self, characters: int) -> str:
        """The first characters of the text."""
        return self.chunks.between(0, characters)

    def spot(self, position: types.Position) -> Spot:
        """Where a client position is, clamped into the text, without reading the lines before it."""
        return self.chunks.locate(position.line, position.character)

    def offset_at_position(self, client_position: types.Position) -> int:
        """The offset in the text of a client position."""
        return self.spot(client_position).offset

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        """Apply a change to the chunks it touches."""
        chunks = self.chunks
        start = self.spot(change.range.start).offset
        end = self.spot(change.range.end).offset
        chunks.replace(start, end, change.text)
        self._made = {}

    def _once(self, name: str, make: Callable[[], Made]) -> Made:
        """What `make` returns, made once per change of the text."""
        if name not in self._made:
            self._made[name] = make()
        made: Made = self._made[name]
        return made


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


def chunks_of(document: TextDocument) -> ChunkedText:
    """The document's text as chunks: its own when it keeps them, else made from its text."""
    if isinstance(document, LspTextDocument):
        return document.chunks
    return ChunkedText(document.source, encoding_name(document.position_codec.encoding))


def text_size(document: TextDocument) -> int:
    """The document's size in UTF-8 bytes; a chunked document knows it without reading its text."""
    if isinstance(document, LspTextDocument):
        return document.size_utf8
    return len(document.source.encode("utf-8", "surrogatepass"))


def text_head(document: TextDocument, characters: int) -> str:
    """The first characters of the document; a chunked document reads no further."""
    if isinstance(document, LspTextDocument):
        return document.head(characters)
    return document.source[:characters]


def file_name(uri: str) -> str:
    """The last part of a URI, decoded, for messages the user reads."""
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])


def adopt(workspace: Any) -> Any:
    """Turn a freshly made pygls Workspace into an LspWorkspace (it adds no state, so the class can change)."""
    if type(workspace) is Workspace:
        workspace.__class__ = LspWorkspace
    return workspace
