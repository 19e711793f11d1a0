"""Inline completion over stdio against raw llama-cpp-python on the same prompt: time to the suggestion,
typing-through latency, and generations started during a typing burst."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench.common import Row
from freescode_lsp.completion.cursor import cursor_at
from freescode_lsp.completion.task.request import completion_request, stop_rule
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.local.completion import render_infill
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog
from freescode_lsp.testing.lsp_harness import Editor, server_config
from freescode_lsp.text.chunked_text import ChunkedText

ROUNDS = 8
THREADS = 2
CONTEXT = 2048
MAX_TOKENS = 32
MAX_LINES = 4
BURST_KEYS_PER_S = 10
BURST_SECONDS = 10
OPTIONS = {
    "network": {"mode": "local-only"},
    "routing": {"complete": DEFAULT_MODEL},
    "local": {"threads": THREADS, "max_context": CONTEXT},
    "server": {"diagnostics_enabled": False, "hover_enabled": False},
    "completion": {"max_tokens": MAX_TOKENS, "max_lines": MAX_LINES},
}
HEAD = 'import math\n\n\ndef area(radius):\n    """Area of a circle."""\n'
TYPED = "    total = sum(values) / len(values) if values else 0.0  # the mean of the values read so far\n"


def source(round_: int) -> str:
    """A file whose last line is a statement to complete; each round names its own variable."""
    return HEAD + f"    area_{round_} = "


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(len(lines) - 1, len(lines[-1]))


def params(uri: str, position: types.Position, invoked: bool) -> types.InlineCompletionParams:
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=kind),
        text_document=types.TextDocumentIdentifier(uri),
        position=position,
    )


def suggestion_of(answer: Any) -> str:
    items = list(answer.items) if isinstance(answer, types.InlineCompletionList) else list(answer or [])
    return str(items[0].insert_text) if items else ""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def raw_llama() -> Any:
    """Raw llama-cpp-python with the window and threads the completion lane opens."""
    from llama_cpp import Llama

    return Llama(model_path=str(weights.ensure_embedded()), n_ctx=CONTEXT, n_threads=THREADS, verbose=False)


def raw_suggestion_seconds(llama: Any, text: str) -> float:
    """Seconds for raw llama-cpp-python to stream the same prompt until the same stop rule ends it."""
    spec = build_catalog(settings_from_dict(OPTIONS).settings)[DEFAULT_MODEL]
    cursor = cursor_at(ChunkedText(text, types.PositionEncodingKind.Utf16.value), end_of(text))
    request = completion_request(DEFAULT_MODEL, cursor, MAX_TOKENS)
    prompt, stop = render_infill(llama, spec, request, CONTEXT)
    rule = stop_rule(cursor, MAX_LINES)
    start = time.perf_counter()
    stream = llama.create_completion(prompt, max_tokens=MAX_TOKENS, temperature=0, stop=stop or None, stream=True)
    for part in stream:
        if rule.feed(part["choices"][0]["text"] or ""):
            break
    stream.close()
    rule.result()
    return time.perf_counter() - start


async def suggestion_times(editor: Editor, workdir: Path, llama: Any) -> tuple[list[float], list[float]]:
    """Per round, seconds from request to suggestion through the server, then raw on the same prompt."""
    ours, raw = [], []
    for round_ in range(ROUNDS + 1):
        text = source(round_)
        uri = editor.open(workdir / f"round_{round_}.py", text)
        start = time.perf_counter()
        await editor.client.text_document_inline_completion_async(params(uri, end_of(text), True))
        ours.append(time.perf_counter() - start)
        raw.append(await asyncio.to_thread(raw_suggestion_seconds, llama, text))
    return ours[1:], raw[1:]


async def next_keystroke(editor: Editor, workdir: Path, llama: Any) -> tuple[list[float], list[float]]:
    """Per keystroke, seconds to the suggestion through the server (the lane's KV cache holds the prompt before
    the key), then raw llama-cpp-python on the same prompt with its cache cleared."""
    text = source(200)
    uri = editor.open(workdir / "keystrokes.py", text)
    await editor.client.text_document_inline_completion_async(params(uri, end_of(text), True))
    ours, cold = [], []
    for _ in range(ROUNDS):
        position = end_of(text)
        editor.type(uri, position.line, position.character, "z")
        text += "z"
        start = time.perf_counter()
        await editor.client.text_document_inline_completion_async(params(uri, end_of(text), True))
        ours.append(time.perf_counter() - start)
        llama.reset()
        cold.append(await asyncio.to_thread(raw_suggestion_seconds, llama, text))
    return ours, cold


async def typing_through(editor: Editor, workdir: Path) -> tuple[list[float], int]:
    """Milliseconds per request while typing the suggestion's characters, and the generations it started."""
    timings: list[float] = []
    started = 0
    for round_ in range(3):
        text = source(100 + round_)
        uri = editor.open(workdir / f"through_{round_}.py", text)
        position = end_of(text)
        suggestion = suggestion_of(await editor.client.text_document_inline_completion_async(params(uri, position, True)))
        before = running(editor)
        for char in suggestion[:-1]:
            if char == "\n":
                break
            editor.type(uri, position.line, position.character, char)
            position = types.Position(position.line, position.character + len(char.encode("utf-16-le")) // 2)
            start = time.perf_counter()
            await editor.client.text_document_inline_completion_async(params(uri, position, False))
            timings.append((time.perf_counter() - start) * 1000)
        started += running(editor) - before
    return timings, started


def running(editor: Editor) -> int:
    """Generations the server has started so far."""
    return sum(1 for s in editor.statuses if s.get("task") == "complete" and s.get("state") == "running")


async def burst(editor: Editor, workdir: Path) -> tuple[int, int]:
    """Keystrokes typed at a steady pace, each followed by a request as editors send them; generations started."""
    text = HEAD
    uri = editor.open(workdir / "burst.py", text)
    position = end_of(text)
    before = running(editor)
    keys = BURST_KEYS_PER_S * BURST_SECONDS
    pending = []
    typed = (TYPED * (keys // len(TYPED) + 1))[:keys]
    for char in typed:
        editor.type(uri, position.line, position.character, char)
        position = types.Position(position.line + 1, 0) if char == "\n" else types.Position(position.line, position.character + 1)
        pending.append(asyncio.ensure_future(editor.client.text_document_inline_completion_async(params(uri, position, False))))
        await asyncio.sleep(1 / BURST_KEYS_PER_S)
    await asyncio.gather(*pending)
    return running(editor) - before, keys


async def over_stdio() -> dict[str, Any]:
    """Every measurement through the real server, and the raw baseline in this process."""
    weights.ensure_embedded()
    workdir = Path(tempfile.mkdtemp())
    client = await server_config().start()
    editor = Editor(client, "visual-studio-code")
    await editor.initialize(OPTIONS)
    llama = raw_llama()
    try:
        ours, raw = await suggestion_times(editor, workdir, llama)
        reused, cold = await next_keystroke(editor, workdir, llama)
        through, through_started = await typing_through(editor, workdir)
        generations, keys = await burst(editor, workdir)
    finally:
        await client.shutdown_session()
        await client.stop()
        llama.close()
    return {
        "ours": ours,
        "raw": raw,
        "reused": reused,
        "cold": cold,
        "through": through,
        "through_started": through_started,
        "burst": (generations, keys),
    }


async def run() -> list[Row]:
    """The completion rows."""
    got = await over_stdio()
    generations, keys = got["burst"]
    note = (
        f"freescode-lsp over stdio, gemma-3-270m (prefix only) on the completion lane, {THREADS} threads; raw = "
        f"llama-cpp-python on the same prompt to the same stop rule, {ROUNDS} rounds alternating; goal ours <= raw + 15 ms"
    )
    through_note = (
        f"typing through: {len(got['through'])} requests while typing the suggestion, {got['through_started']} "
        f"generations started (goal p50 <= 2 ms, none started); burst: {BURST_KEYS_PER_S} keys/s for "
        f"{BURST_SECONDS} s, a request after each key (goal: one generation per pause)"
    )
    ours, raw = statistics.median(got["ours"]), statistics.median(got["raw"])
    return [
        Row("request to suggestion vs raw to the same stop, median", ours * 1000, raw * 1000, "ms", note=note, digits=1),
        Row(
            "one more keystroke: suggestion with the KV prefix reused vs raw with its cache cleared, median",
            statistics.median(got["reused"]) * 1000,
            statistics.median(got["cold"]) * 1000,
            "ms",
            note=note,
            digits=1,
        ),
        Row("typing-through request p50", percentile(got["through"], 0.5), None, "ms", note=through_note, digits=2),
        Row("typing-through request p99", percentile(got["through"], 0.99), None, "ms", note=through_note, digits=2),
        Row("generations started per keystroke in a burst", generations / keys, 1.0, "gen/key", note=through_note),
    ]


async def main() -> None:
    from bench.common import table

    rows = await run()
    for note in dict.fromkeys(row.note for row in rows):
        print(note)
    print(table(rows, with_machine=False))


if __name__ == "__main__":
    asyncio.run(main())
