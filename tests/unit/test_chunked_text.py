"""Documents kept as chunks: any edits leave the same text, lines and positions as pygls' own document, positions
are counted in each encoding as pygls counts them, and an edit copies the chunks it touches, not the text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.workspace import PositionCodec, TextDocument

from freescode_lsp.edits.line_endings import ending_of, usual_ending
from freescode_lsp.lsp.protocol.text_documents import LspTextDocument
from freescode_lsp.text import chunked_text
from freescode_lsp.text.chunked_text import ChunkedText
from freescode_lsp.text.code_units import code_points, units

ENCODINGS = ["utf-16", "utf-8", "utf-32"]
PIECES = st.sampled_from(["a", "b", " ", "é", "中", "😀", "\r", "\n", "\r\n", "\ud83d", "\ude00"])
TEXT = st.lists(PIECES, max_size=40).map("".join)
BREAK = re.compile(r"\r\n|\r|\n")


class Reference(TextDocument):
    """pygls' document, with lines broken where LSP breaks them."""

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(re.findall(r".*?(?:\r\n|\r|\n)|.+\Z", self.source, re.DOTALL))


@pytest.fixture(autouse=True)
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few characters, so that every edit crosses chunk boundaries."""
    monkeypatch.setattr(chunked_text, "CHUNK_CHARS", 4)
    monkeypatch.setattr(chunked_text, "MAX_CHUNK_CHARS", 8)
    monkeypatch.setattr(chunked_text, "MIN_CHUNK_CHARS", 2)


def a_position(data: st.DataObject, document: TextDocument) -> types.Position:
    """A position inside the document that does not split a character."""
    lines = document.lines
    if not lines:
        return types.Position(0, 0)
    number = data.draw(st.integers(0, len(lines) - 1))
    text = lines[number][: len(lines[number]) - len(ending_of(lines[number]))]
    column = data.draw(st.integers(0, len(text)))
    return types.Position(number, document.position_codec.client_num_units(text[:column]))


@settings(max_examples=150, deadline=None)
@given(data=st.data(), start=TEXT, encoding=st.sampled_from(ENCODINGS))
def test_edits_leave_the_text_lines_and_totals_pygls_would(data: st.DataObject, start: str, encoding: str) -> None:
    reference = Reference("file:///a.py", start, position_codec=PositionCodec(encoding))
    ours = LspTextDocument("file:///a.py", start, position_codec=PositionCodec(encoding))
    for _ in range(data.draw(st.integers(1, 8))):
        first, second = sorted((a_position(data, reference), a_position(data, reference)), key=lambda p: (p.line, p.character))
        change = types.TextDocumentContentChangePartial(range=types.Range(first, second), text=data.draw(TEXT))
        reference.apply_change(change)
        ours.apply_change(change)
        assert ours.source == reference.source
        assert tuple(ours.lines) == reference.lines
        chunks = ours.chunks
        assert chunks.length == len(reference.source) and chunks.line_breaks == len(BREAK.findall(reference.source))
        assert chunks.size_utf8 == len(reference.source.encode("utf-8", "surrogatepass"))
        assert chunks.usual_ending() == usual_ending(reference.lines)
        pairs = zip(chunks.texts, chunks.texts[1:], strict=False)
        assert all(chunks.texts) and not any(a.endswith("\r") and b.startswith("\n") for a, b in pairs)
        position = a_position(data, reference)
        spot = ours.spot(position)
        assert (spot.offset, spot.line, spot.character) == (
            reference.offset_at_position(position),
            position.line,
            position.character,
        )


@settings(max_examples=300, deadline=None)
@given(text=TEXT, count=st.integers(0, 50), encoding=st.sampled_from(ENCODINGS))
def test_code_units_are_counted_as_pygls_counts_them(text: str, count: int, encoding: str) -> None:
    codec = PositionCodec(encoding)
    assert units(text, encoding) == codec.client_num_units(text)
    taken = used = 0
    while used < count and taken < len(text):
        used += codec.client_num_units(text[taken])
        taken += 1
    assert code_points(text, count, encoding) == (taken, used)


def test_positions_past_a_line_or_the_text_are_clamped_to_their_end() -> None:
    text = ChunkedText("ab😀\r\ncd\n", "utf-16")
    assert text.locate(0, 99) == chunked_text.Spot(3, 0, 4)
    assert text.locate(1, 1) == chunked_text.Spot(6, 1, 1)
    assert text.locate(2, 0) == chunked_text.Spot(8, 2, 0)
    assert text.locate(7, 3) == chunked_text.Spot(8, 2, 0)
    assert text.locate(0, 3) == chunked_text.Spot(3, 0, 4)


def test_an_edit_copies_only_the_chunks_it_touches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunked_text, "CHUNK_CHARS", 4096)
    monkeypatch.setattr(chunked_text, "MAX_CHUNK_CHARS", 8192)
    monkeypatch.setattr(chunked_text, "MIN_CHUNK_CHARS", 1024)
    copied = []
    for size in (100_000, 10_000_000):
        text = ChunkedText("x" * size, "utf-16")
        for key in range(20):
            spot = text.locate(0, size // 2 + key)
            text.replace(spot.offset, spot.offset, "é")
        copied.append(text.copied)
        assert text.between(size // 2 - 1, size // 2 + 21) == "x" + "é" * 20 + "x"
    assert max(copied) <= 20 * 3 * 8192
