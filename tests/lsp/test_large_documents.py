"""Huge documents never freeze the server: an edit costs what it changes, not the document; the cursor is found
without reading its line; a refused document (too large) costs nothing more per edit; and other requests are
answered while edits pour in.

Cost is measured as the server does the work in this process: the peak memory a message allocates (a copy of
the document or of its line shows up at once) and the Python function calls it makes (a loop over the line's
characters shows up at once). Neither depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from attrs import define
from lsprotocol import types

from freescode_lsp.testing.in_process import InProcessServer
from freescode_lsp.testing.lsp_harness import Editor

STATEMENT = "x = 1; "
HUGE_LINE_CHARS = 2_000_000
SMALL_LINE_CHARS = 200_000
ORDINARY_LINE = "def f(x):  # an ordinary line of code\n"
LIMIT = {"server": {"max_file_bytes": 20_000_000, "diagnostics_enabled": False}}
MEGABYTE = 1_000_000


@define
class Cost:
    """What handling some messages took: the peak memory allocated meanwhile and the Python calls made."""

    peak_bytes: int = 0
    calls: int = 0


@contextmanager
def measured(count_calls: bool = True) -> Iterator[Cost]:
    """Measure the code in the block (calls only in this thread; allocations everywhere)."""
    cost = Cost()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            cost.calls += 1

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    if count_calls:
        sys.setprofile(profile)
    try:
        yield cost
    finally:
        sys.setprofile(None)
        cost.peak_bytes = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()


def one_line(chars: int) -> str:
    return STATEMENT * (chars // len(STATEMENT))


def typing_cost(server: InProcessServer, uri: str, line: int, column: int, keys: int = 3) -> Cost:
    """The cost of `keys` one-character edits at (line, column), each its own didChange as editors send them."""
    with measured() as cost:
        for key in range(keys):
            at = (line, column + key)
            server.change(uri, 2 + key, at, at, "z")
    return cost


async def started(options: dict[str, Any]) -> InProcessServer:
    server = InProcessServer()
    await server.initialize(options)
    return server


async def test_an_edit_in_a_huge_line_costs_what_it_does_in_a_small_one(tmp_path: Path) -> None:
    server = await started(LIMIT)
    costs = []
    for name, chars in (("small.py", SMALL_LINE_CHARS), ("huge.py", HUGE_LINE_CHARS)):
        uri = (tmp_path / name).as_uri()
        server.open(uri, one_line(chars))
        costs.append(typing_cost(server, uri, 0, chars - 1000))
        document = server.server.workspace.get_text_document(uri)
        assert document.source == one_line(chars)[: chars - 1000] + "zzz" + one_line(chars)[chars - 1000 :]
    small, huge = costs
    assert huge.peak_bytes < MEGABYTE, (small, huge)
    assert huge.calls <= small.calls + 10, (small, huge)


@pytest.mark.parametrize("shape", ["one line", "many lines"])
async def test_a_document_over_the_size_limit_costs_nothing_more_per_edit(tmp_path: Path, shape: str) -> None:
    """Diagnostics on, as by default: a refused document is neither copied nor split per keystroke, so an edit
    to one of 10 MB costs what an edit to one just over the limit does; the other documents are served."""
    server = await started({"server": {"max_file_bytes": 100_000}})
    costs = []
    for name, size in (("over.py", 150_000), ("far_over.py", 10_000_000)):
        uri = (tmp_path / name).as_uri()
        if shape == "one line":
            text, line, column = one_line(size), 0, size // 2
        else:
            lines = size // len(ORDINARY_LINE)
            text, line, column = ORDINARY_LINE * lines, lines // 2, 4
        server.open(uri, text)
        costs.append(typing_cost(server, uri, line, column))
    over, far_over = costs
    assert far_over.peak_bytes < MEGABYTE, costs
    assert far_over.calls <= over.calls + 10, costs
    other = (tmp_path / "small.py").as_uri()
    server.open(other, ORDINARY_LINE * 10)
    answer = await server.request(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": other},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": []},
        },
    )
    assert answer, "the other document's actions are listed"


def completion_params(uri: str, line: int, character: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}, "context": {"triggerKind": 1}}


async def suggestion_cost(server: InProcessServer, uri: str, character: int) -> tuple[Cost, Any]:
    with measured(count_calls=False) as cost:
        answer = await server.request("textDocument/inlineCompletion", completion_params(uri, 0, character))
    return cost, answer


async def test_the_cursor_in_a_huge_line_is_found_without_reading_the_line(stub_node: Any, tmp_path: Path) -> None:
    stub_node.set_script({"default": {"chunks": ["0"]}})
    options = {
        "nodes": [{"url": stub_node.url, "models": ["gemma-3-270m"]}],
        "network": {"mode": "remote-only"},
        "server": {"max_file_bytes": 20_000_000, "diagnostics_enabled": False, "hover_enabled": False},
        "completion": {"debounce_ms": 0, "max_tokens": 8},
    }
    server = await started(options)
    costs = []
    for name, chars in (("small.py", SMALL_LINE_CHARS), ("huge.py", HUGE_LINE_CHARS)):
        uri = (tmp_path / name).as_uri()
        text = one_line(chars)
        server.open(uri, text)
        cursor = chars - 5000
        cost, answer = await suggestion_cost(server, uri, cursor)
        costs.append(cost)
        assert [item["insertText"] for item in answer["items"]] == ["0"]
        prompt = stub_node.requests()[-1]["prompt"]
        assert text[:cursor].endswith(prompt) and 1000 < len(prompt) < 5000
    small, huge = costs
    assert huge.peak_bytes < small.peak_bytes + MEGABYTE, (small, huge)


STORM_EDITS = 60


async def test_other_requests_are_answered_while_edits_pour_into_a_huge_line(
    editor: Editor, stub_node: Any, tmp_path: Path
) -> None:
    """Through the real server: edits to a 1.9 MB one-line file interleaved with code actions on another file;
    every action is answered, and the server's copy of the huge file is the editor's (the prompt shows it)."""
    stub_node.set_script({"default": {"chunks": ["0"]}})
    await editor.initialize(
        {
            "nodes": [{"url": stub_node.url, "models": ["gemma-3-270m"]}],
            "network": {"mode": "remote-only"},
            "server": {"hover_enabled": False, "diagnostics_idle_s": 0},
            "completion": {"debounce_ms": 0, "max_tokens": 8},
        }
    )
    text = one_line(1_900_000)
    huge = editor.uri_for(tmp_path / "huge.py")
    editor.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(huge, "python", 1, text)))
    other = editor.open(tmp_path / "other.py", "def f(x):\n    return x\n")
    column = len(text) - 3000
    actions: list[Awaitable[Any]] = []
    for key in range(STORM_EDITS):
        at = types.Position(0, column + key)
        editor.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=huge, version=2 + key),
                content_changes=[types.TextDocumentContentChangePartial(range=types.Range(at, at), text="z")],
            )
        )
        if key % 10 == 0:
            actions.append(code_actions(editor, other))
    answers = await asyncio.gather(*actions)
    assert all(answer for answer in answers)
    cursor = types.Position(0, column + STORM_EDITS)
    completion = types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(huge),
        position=cursor,
    )
    await editor.client.text_document_inline_completion_async(completion)
    prompt = stub_node.requests()[-1]["prompt"]
    assert (text[:column] + "z" * STORM_EDITS).endswith(prompt) and prompt.endswith("z" * STORM_EDITS)


def code_actions(editor: Editor, uri: str) -> Awaitable[Any]:
    start = types.Position(0, 0)
    return editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(start, start),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
