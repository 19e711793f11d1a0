"""Huge documents: how long one keystroke blocks the server's event loop, against pygls' own document.

In process, each row times the server handling a one-character didChange (everything it does for it: the edit,
document sync, diagnostics, line history) on a document of that shape, against pygls' TextDocument applying the
same edit alone, which is what the server did before. Over stdio, a code action on another file is asked right
behind a burst of keystrokes into a 1.9 MB one-line file, against the same request with no keystrokes before it;
and the server's resident memory is read before and after keystrokes into a 50 MB file.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types
from pygls.workspace import TextDocument

from bench.common import Row, rss_kib
from freescode_lsp.completion.cursor import cursor_at
from freescode_lsp.lsp.protocol.text_documents import LspTextDocument
from freescode_lsp.testing.in_process import InProcessServer
from freescode_lsp.testing.lsp_harness import Editor, server_config

ROUNDS = 20
BASELINE_ROUNDS = 3
BURST = 20
STATEMENT = "x = 1; "
ORDINARY_LINE = "def f(x):  # an ordinary line of code\n"
OPTIONS = {"server": {"hover_enabled": False, "diagnostics_idle_s": 0}}


def one_line(chars: int) -> str:
    """Statements on one line, about `chars` long."""
    return STATEMENT * (chars // len(STATEMENT))


def many_lines(chars: int) -> str:
    """Ordinary lines of code, about `chars` in all."""
    return ORDINARY_LINE * (chars // len(ORDINARY_LINE))


SHAPES = [
    ("1.9 MB on one line", lambda: one_line(1_900_000), False),
    ("5 MB on one line (refused: over max_file_bytes)", lambda: one_line(5_000_000), True),
    ("50 MB of ordinary lines (refused)", lambda: many_lines(50_000_000), True),
]


def middle(text: str) -> tuple[int, int]:
    """A position in the middle of the text: line and column."""
    lines = text.count("\n")
    if lines:
        return lines // 2, 4
    return 0, len(text) // 2


def server_edit_ms(text: str, rounds: int) -> tuple[float, float]:
    """Median ms the server spends on one keystroke (didChange handled in full), then the peak MiB it allocates
    for one (measured apart: tracing allocations slows them down)."""
    server = InProcessServer()
    asyncio.run(server.initialize(OPTIONS))
    uri = "file:///bench/huge.py"
    server.open(uri, text)
    line, column = middle(text)
    keys = iter(range(rounds + 1))

    def keystroke() -> None:
        key = next(keys)
        server.change(uri, 2 + key, (line, column + key), (line, column + key), "z")

    return _timed(keystroke, rounds)


def pygls_edit_ms(text: str, rounds: int) -> tuple[float, float]:
    """Median ms pygls' TextDocument takes to apply the same keystroke, then the peak MiB it allocates for one."""
    document = TextDocument("file:///bench/huge.py", text)
    line, column = middle(text)
    keys = iter(range(rounds + 1))

    def keystroke() -> None:
        at = types.Position(line, column + next(keys))
        document.apply_change(types.TextDocumentContentChangePartial(range=types.Range(at, at), text="z"))

    return _timed(keystroke, rounds)


def _timed(keystroke: Callable[[], None], rounds: int) -> tuple[float, float]:
    """Median ms of `rounds` calls, then the peak MiB one more call allocates."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        keystroke()
        times.append((time.perf_counter() - start) * 1000)
    tracemalloc.start()
    keystroke()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), peak


def cursor_ms(text: str) -> tuple[float, float]:
    """Median ms to find the cursor near the end of the text and read the text around it (what a suggestion
    needs), against pygls' document converting the same position to an offset alone."""
    at = types.Position(0, len(text) - 100)
    chunks = LspTextDocument("file:///bench/huge.py", text).chunks
    ours = [_ms(lambda: cursor_at(chunks, at)) for _ in range(ROUNDS)]
    document = TextDocument("file:///bench/huge.py", text)
    theirs = [_ms(lambda: document.offset_at_position(at)) for _ in range(BASELINE_ROUNDS)]
    return statistics.median(ours), statistics.median(theirs)


def _ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def in_process_rows() -> list[Row]:
    """Per shape: ms per keystroke and peak MiB allocated, ours against pygls' document; the cursor in a long line."""
    note = (
        f"in process, medians of {ROUNDS} (pygls' document: {BASELINE_ROUNDS}); a keystroke's peak is what one more "
        "allocates; the cursor row finds the cursor and reads the window a suggestion reads"
    )
    rows = [Row("cursor near the end of a 1.9 MB line", *cursor_ms(one_line(1_900_000)), "ms", note=note, digits=3)]
    for name, make, _refused in SHAPES:
        text = make()
        ours_ms, ours_peak = server_edit_ms(text, ROUNDS)
        base_ms, base_peak = pygls_edit_ms(text, BASELINE_ROUNDS)
        rows.append(Row(f"keystroke, {name}: event loop blocked", ours_ms, base_ms, "ms", note=note, digits=3))
        rows.append(Row(f"keystroke, {name}: peak allocated", ours_peak, base_peak, "MiB", note=note, digits=2))
    return rows


async def code_action_ms(editor: Editor, uri: str) -> float:
    """Milliseconds for one textDocument/codeAction."""
    at = types.Position(0, 0)
    start = time.perf_counter()
    await editor.client.text_document_code_action_async(
        types.CodeActionParams(types.TextDocumentIdentifier(uri), types.Range(at, at), types.CodeActionContext([]))
    )
    return (time.perf_counter() - start) * 1000


def keystroke(editor: Editor, uri: str, version: int, line: int, column: int) -> None:
    """One one-character didChange, sent as the editor sends it."""
    at = types.Position(line, column)
    editor.client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [types.TextDocumentContentChangePartial(range=types.Range(at, at), text="z")],
        )
    )


async def over_stdio() -> list[Row]:
    """A code action behind a burst of keystrokes into a huge line, and RSS growth from keystrokes in 50 MB."""
    workdir = Path(tempfile.mkdtemp())
    client = await server_config().start()
    editor = Editor(client, "visual-studio-code")
    try:
        await editor.initialize(OPTIONS)
        other = editor.open(workdir / "other.py", "def f(x):\n    return x\n")
        huge = editor.uri_for(workdir / "huge.py")
        text = one_line(1_900_000)
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(huge, "python", 1, text)))
        quiet, behind = [], []
        for round_ in range(5):
            quiet.append(await code_action_ms(editor, other))
            for key in range(BURST):
                keystroke(editor, huge, 2 + round_ * BURST + key, 0, len(text) // 2)
            behind.append(await code_action_ms(editor, other))
        big = editor.uri_for(workdir / "big.py")
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(big, "python", 1, many_lines(50_000_000)))
        )
        await code_action_ms(editor, other)
        pid = client._server.pid  # type: ignore[attr-defined]
        opened = rss_kib(pid)
        for key in range(10):
            keystroke(editor, big, 2 + key, 600_000, 4)
        await code_action_ms(editor, other)
        grown = (rss_kib(pid) - opened) / 1024
    finally:
        await client.shutdown_session()
        await client.stop()
    note = f"over stdio, medians of 5 rounds; each burst is {BURST} keystrokes into the middle of a 1.9 MB line"
    return [
        Row(
            f"code action on another file, right behind {BURST} keystrokes into a 1.9 MB line vs with none",
            statistics.median(behind),
            statistics.median(quiet),
            "ms",
            note=note,
            digits=1,
        ),
        Row("server RSS growth over 10 keystrokes into a 50 MB file", grown, None, "MiB", note=note, digits=1),
    ]


async def run() -> list[Row]:
    """Every row of this bench."""
    rows = await asyncio.to_thread(in_process_rows)
    return rows + await over_stdio()


if __name__ == "__main__":
    from bench.common import table

    print(table(asyncio.run(run()), with_machine=False))
