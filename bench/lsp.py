"""Language server benchmarks over stdio: code-action listing latency, and time to first applied edit."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from lsprotocol import types

from bench.common import Row
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.local.engine import render_prompt
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog
from freescode_lsp.tasks.prompts import TaskInput, build_request
from freescode_lsp.testing.lsp_harness import Editor, run_command, server_config

REQUESTS = 1000
CHANGED_LINE = 1
ROUNDS = 3
OPTIONS = {
    "network": {"mode": "local-only"},
    "routing": {"fix": DEFAULT_MODEL, "fix_helper": DEFAULT_MODEL},
    "local": {"threads": 2, "max_context": 2048},
    "server": {"max_tokens": 96, "diagnostics_enabled": False, "hover_enabled": False},
}
FUNCTION = "def add(a, b):\n    return a - b\n"


def big_file() -> str:
    """About 2,000 lines of Python."""
    block = "def function_{i}(x):\n    y = x + {i}\n    if y > 10:\n        return y * 2\n    return y\n\n"
    blocks = [block.format(i=i) for i in range(333)]
    return "".join(blocks)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def listing(editor: Editor, uri: str) -> list[float]:
    """Milliseconds per textDocument/codeAction on the big file."""
    timings = []
    for i in range(REQUESTS):
        line = (i * 7) % 1990
        start = time.perf_counter()
        await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(line, 4), types.Position(line, 4)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        timings.append((time.perf_counter() - start) * 1000)
    return timings


async def first_edit(editor: Editor, uri: str) -> float:
    """Seconds from executeCommand to the first workspace/applyEdit the editor receives."""
    arrived = asyncio.get_running_loop().create_future()
    start = time.perf_counter()

    def note(_: object) -> None:
        if not arrived.done():
            arrived.set_result(time.perf_counter() - start)

    editor.before_apply = note
    command = asyncio.create_task(run_command(editor.client, {"uri": uri, "task": "fix", "line": 1, "endLine": 1}))
    done, _ = await asyncio.wait({arrived, command}, return_when=asyncio.FIRST_COMPLETED)
    elapsed = arrived.result() if arrived.done() else float("nan")
    await command
    return elapsed


def raw_first_token() -> tuple[float, float]:
    """Raw llama-cpp-python on the prompt the server sends: time to first token, and to the changed line."""
    from llama_cpp import Llama

    settings = settings_from_dict(OPTIONS).settings
    spec = build_catalog(settings)[DEFAULT_MODEL]
    llama = Llama(model_path=str(weights.ensure_embedded()), n_ctx=2048, n_threads=2, verbose=False)
    request = build_request(DEFAULT_MODEL, TaskInput("fix", FUNCTION, "python"), 96)
    prompt, stop = render_prompt(llama, spec, request, 2048)
    firsts, lines = [], []
    for _ in range(ROUNDS + 1):
        start = time.perf_counter()
        text = ""
        for part in llama.create_completion(prompt, max_tokens=32, temperature=0.1, stop=stop or None, stream=True):
            if part["choices"][0]["text"] and not text:
                firsts.append(time.perf_counter() - start)
            text += part["choices"][0]["text"]
            if text.count("\n") >= CHANGED_LINE + 1:
                break
        lines.append(time.perf_counter() - start)
    return statistics.median(firsts[1:]), statistics.median(lines[1:])


def in_process_listing() -> list[float]:
    """Microseconds the server's own code-action handler takes on the big file (no transport)."""
    from freescode_lsp.lsp.features.code_actions import list_actions
    from freescode_lsp.lsp.server import FreescodeServer

    server = FreescodeServer()
    server.loaded = settings_from_dict(OPTIONS)
    server.router = None
    from pygls.workspace import Workspace

    uri = "file:///bench/big.py"
    workspace = Workspace(None)
    workspace.put_text_document(types.TextDocumentItem(uri, "python", 1, big_file()))
    server.protocol._workspace = workspace
    timings = []
    for i in range(REQUESTS):
        line = (i * 7) % 1990
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(line, 4), types.Position(line, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
        start = time.perf_counter()
        list_actions(server, params)
        timings.append((time.perf_counter() - start) * 1e6)
    return timings


async def over_stdio() -> tuple[list[float], list[float]]:
    """codeAction timings on the big file and seconds to the first applied edit, through the real server."""
    weights.ensure_embedded()
    workdir = Path(tempfile.mkdtemp())
    client = await server_config().start()
    editor = Editor(client, "visual-studio-code")
    await editor.initialize(OPTIONS)
    big_uri = editor.open(workdir / "big.py", big_file())
    await listing(editor, big_uri)
    timings = await listing(editor, big_uri)
    firsts = []
    for round_ in range(ROUNDS + 1):
        uri = editor.open(workdir / f"scale_{round_}.py", FUNCTION)
        firsts.append(await first_edit(editor, uri))
    await client.shutdown_session()
    await client.stop()
    return timings, firsts


async def run() -> list[Row]:
    """codeAction latency, handler latency and first applied edit against raw llama.cpp, as rows."""
    timings, firsts = await over_stdio()
    raw, raw_line = raw_first_token()
    handler = in_process_listing()
    edit = statistics.median(firsts[1:])
    note = f"freescode-lsp over stdio, {REQUESTS} codeAction requests on a {len(big_file().splitlines())}-line file"
    return [
        Row("codeAction p50 over stdio", percentile(timings, 0.5), None, "ms", note=note, digits=2),
        Row("codeAction p99 over stdio", percentile(timings, 0.99), None, "ms", note=note, digits=2),
        Row("codeAction handler alone p50", percentile(handler, 0.5), None, "µs", note=note, digits=0),
        Row("codeAction handler alone p99", percentile(handler, 0.99), None, "µs", note=note, digits=0),
        Row("first applied edit vs raw first token, gemma-3-270m", edit, raw, "s", note=note),
        Row("first applied edit vs raw time to the same finished line", edit, raw_line, "s", note=note),
    ]


async def main() -> None:
    rows = await run()
    print(rows[0].note)
    print("| what | ours | baseline | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        base = "-" if row.baseline is None else f"{row.baseline:.3f}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"| {row.what} ({row.unit}) | {row.ours:.{row.digits}f} | {base} | {ratio} |")


if __name__ == "__main__":
    asyncio.run(main())
