"""Hostile node answers: nothing outside the asked region is written and server memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from chaos.common import CampaignResult, editor_session, rss_kb, scratch_home, server_pid
from freescode_lsp.testing.answers import pieces
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.samples import FIXED, SOURCE
from freescode_lsp.testing.stub_node import start_stub_node

HEAD = "import math\n\n\n"
TAIL = "\n\ndef untouched():\n    return 42\n"
OTHER = "SECRET = 'keep me'\n"
REGION_START = 3
RSS_GROWTH_KB = 400_000


def _answer(kind: str, other_uri: str) -> dict[str, Any]:
    """The stub answer for one kind of hostility."""
    fenced = f"```python\n{FIXED}```\n"
    if kind == "other_file_fence":
        text = f"In other.py:\n```python\n# file: other.py\nSECRET = 'pwned'\n```\nAnd here:\n{fenced}"
        return {"chunks": pieces(text, 7)}
    if kind == "whole_file":
        return {"chunks": pieces("```python\n" + SOURCE.replace("return 42", "return 0") + "```\n", 9)}
    if kind == "workspace_edit_json":
        edit = {
            "range": {
                "start": {"line": 0, "character": 0},
                "end": {"line": 0, "character": 0},
            },
            "newText": "x",
        }
        change = {"textDocument": {"uri": other_uri, "version": 1}, "edits": [edit]}
        return {
            "chunks": pieces(
                json.dumps({"documentChanges": [change], "changes": {other_uri: [edit]}}),
                11,
            )
        }
    if kind.endswith("_mb"):
        return {"chunks": ["```python\n"] + ["x = 1\n" * 16_667] * int(kind.split("_")[0]) + ["```\n"]}
    if kind == "100_mb_line":
        return {"chunks": ["x = 1\n"], "huge_line_bytes": 100 * 1024 * 1024}
    if kind == "endless":
        return {"chunks": ["```python\n"] + ["y = 2\n"] * 200_000}
    if kind == "invalid_sse":
        blocks = [
            "data: {not json\n\n",
            'data: {"choices": 5}\n\n',
            "event: nonsense\n\n",
            "garbage\n\n",
            'data: {"choices": [{"delta": {"content": 7}}]}\n\n',
            "data: [DONE]\n\n",
        ]
        return {"raw": blocks}
    return {"chunks": pieces(fenced, 1), "delay_s": 0.01}


KINDS = [
    "other_file_fence",
    "workspace_edit_json",
    "invalid_sse",
    "slow_drip",
    "whole_file",
    "endless",
    "10_mb",
    "100_mb_line",
]
ANSWER_TIMEOUT_S = 60.0


async def _trial(editor: Editor, node: Any, home: Path, kind: str, n: int, result: CampaignResult) -> str:
    """One hostile answer against a fresh document; returns how the server ended the task."""
    other = editor.open(home / f"other{n}.py", OTHER)
    uri = editor.open(home / f"target{n}.py", SOURCE)
    node.set_script({"default": _answer(kind, other)})
    editor.applied.clear()
    answer = await asyncio.wait_for(
        run_command(editor.client, {"uri": uri, "task": "fix", "line": 5, "endLine": 5}),
        ANSWER_TIMEOUT_S,
    )
    await asyncio.sleep(editor.debounce_s + 0.05)
    text = editor.text(uri)
    if not (text.startswith(HEAD) and text.endswith(TAIL)):
        result.fail(
            n,
            f"{kind}: text outside the region changed: {text[:300]!r}...{text[-200:]!r}",
        )
    if editor.text(other) != OTHER:
        result.fail(n, f"{kind}: another file was written: {editor.text(other)!r}")
    for params in editor.applied:
        for change in params.edit.document_changes or []:
            if change.text_document.uri != uri:
                result.fail(n, f"{kind}: an edit for {change.text_document.uri}")
            for edit in change.edits:
                if edit.range.start.line < REGION_START:
                    result.fail(n, f"{kind}: an edit above the region at {edit.range}")
        if params.edit.changes:
            result.fail(n, f"{kind}: an unversioned edit: {list(params.edit.changes)}")
    editor.close(uri)
    editor.close(other)
    return f"{kind} applied={answer.get('applied')}"


async def run(trials: int, seed: int, kinds: list[str] | None = None) -> CampaignResult:
    """`trials` hostile answers cycling through the kinds (the heaviest last, since a hang ends the run)."""
    result = CampaignResult("hostile answers")
    chosen = kinds or KINDS
    kinds = sorted(
        (chosen[i % len(chosen)] for i in range(trials)),
        key=lambda k: KINDS.index(k) if k in KINDS else len(KINDS),
    )
    started = time.monotonic()
    node = start_stub_node()
    try:
        with scratch_home() as home:
            async with editor_session(home, node.url) as editor:
                pid = server_pid(editor)
                assert pid is not None
                before = peak = rss_kb(pid)
                for n, kind in enumerate(kinds):
                    result.tried += 1
                    try:
                        result.notes.append(await _trial(editor, node, home, kind, n, result))
                    except TimeoutError:
                        result.fail(
                            n,
                            f"{kind}: no answer to the command within {ANSWER_TIMEOUT_S:.0f}s; run stopped",
                        )
                        break
                    except Exception as exc:  # noqa: BLE001 - a crashed trial is a failure, not the end
                        result.fail(n, f"{kind}: {type(exc).__name__}: {exc}")
                    if server_pid(editor) is None:
                        result.fail(n, f"{kind}: the server exited")
                        break
                    peak = max(peak, rss_kb(pid))
                after = rss_kb(pid) if server_pid(editor) else 0
                result.notes.append(f"server RSS {before // 1024} MB before, {peak // 1024} MB peak, {after // 1024} MB after")
                if after - before > RSS_GROWTH_KB:
                    result.fail(trials, f"server RSS grew from {before} kB to {after} kB")
    finally:
        node.stop()
    result.seconds = time.monotonic() - started
    return result
