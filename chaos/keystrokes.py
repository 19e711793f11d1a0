"""Typing inside and outside the region at random moments while a rewrite streams through the real server."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from chaos.common import CampaignResult, editor_session, scratch_home
from freescode_lsp.testing.answers import pieces
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.samples import FIXED, FIXED_SOURCE, SOURCE
from freescode_lsp.testing.stub_node import StubNode, start_stub_node

TAIL = "\n\ndef untouched():\n    return 42\n"
HEAD = "import math\n\n\n"


def _shares(trials: int) -> list[tuple[str, int]]:
    """How many trials each emulated editor gets."""
    return [("visual-studio-code", trials - trials // 2), ("neovim", trials // 2)]


def _line_of(editor: Editor, uri: str, start: str) -> int:
    return next(i for i, line in enumerate(editor.text(uri).splitlines()) if line.startswith(start))


def _type_once(editor: Editor, uri: str, rng: random.Random, mark: str, inside: bool) -> str:
    """One keystroke burst; returns the exact text it inserted."""
    lines = editor.text(uri).splitlines()
    first = _line_of(editor, uri, "def area")
    last = _line_of(editor, uri, "def untouched")
    if inside:
        body = [i for i in range(first + 1, last - 1) if len(lines[i]) >= 4 and lines[i].startswith("    ")]
        if body:
            text = f"{mark} "
            editor.type(uri, rng.choice(body), 4, text)
            return text
    text = f"# {mark}\n"
    if rng.random() < 0.5:
        editor.type(uri, rng.randrange(0, first - 1), 0, text)
    else:
        editor.type(uri, rng.choice([last, len(lines)]), 0, text)
    return text


def _strip(text: str, typed: list[str]) -> str:
    for piece in typed:
        text = text.replace(piece, "", 1)
    return text


async def _trial(
    editor: Editor,
    node: StubNode,
    home: Path,
    rng: random.Random,
    n: int,
    result: CampaignResult,
) -> None:
    answer = f"```python\n{FIXED}```\n"
    node.set_script({"default": {"chunks": pieces(answer, rng.randint(4, 14)), "delay_s": 0.005}})
    uri = editor.open(home / f"t{n}.py", SOURCE)
    bursts = rng.randint(1, 3)
    inside_any = rng.random() < 0.4
    command = asyncio.create_task(run_command(editor.client, {"uri": uri, "task": "fix", "line": 5, "endLine": 5}))
    typed: list[str] = []
    kinds: list[bool] = []
    for index in range(bursts):
        await asyncio.sleep(rng.uniform(0.0, 0.06))
        inside = inside_any and rng.random() < 0.6
        piece = _type_once(editor, uri, rng, f"k{n}x{index}", inside)
        typed.append(piece)
        kinds.append(not piece.startswith("# "))
    answer_ = await asyncio.wait_for(command, 30)
    await asyncio.sleep(editor.debounce_s + 0.02)
    text = editor.text(uri)
    editor.close(uri)
    result.notes.append(f"{editor.flavour} {'inside' if any(kinds) else 'outside'} applied={answer_.get('applied')}")
    for piece in typed:
        mark = piece.strip("# \n")
        if text.count(mark) != 1:
            result.fail(n, f"keystroke {mark!r} appears {text.count(mark)} times: {text!r}")
            return
    rest = _strip(text, typed)
    if not (rest.startswith(HEAD + "def area") and rest.endswith(TAIL) and rest.count("def untouched") == 1):
        result.fail(n, f"text outside the region changed: {text!r}")
    elif not any(kinds) and (rest != FIXED_SOURCE or answer_.get("applied") is not True):
        result.fail(
            n,
            f"outside-only typing but the region is not the full rewrite ({answer_}): {text!r}",
        )


async def run(trials: int, seed: int) -> CampaignResult:
    """Randomized typing trials, half in VS Code and half in Neovim (its debounce), a fresh document each."""
    result = CampaignResult("typing")
    rng = random.Random(seed)
    started = time.monotonic()
    node = start_stub_node()
    try:
        with scratch_home() as home:
            for flavour, count in _shares(trials):
                async with editor_session(home, node.url, flavour) as editor:
                    for _ in range(count):
                        n = result.tried
                        result.tried += 1
                        try:
                            await _trial(editor, node, home, rng, n, result)
                        except Exception as exc:  # noqa: BLE001 - a crashed trial is a failure, not the end
                            result.fail(n, f"{type(exc).__name__}: {exc}")
    finally:
        node.stop()
    result.seconds = time.monotonic() - started
    result.notes = [f"{note}: {result.notes.count(note)}" for note in sorted(set(result.notes))]
    return result
