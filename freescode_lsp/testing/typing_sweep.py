"""A line typed above or below a streaming fix at every moment of the stream: the fix must land each time.

The node streams a 9-line function one line per event; the 5th line is the first that differs, so the
first real edit goes out when it completes (then one for each of the next two lines). Each trial opens
its own copy of the file, starts the fix, and inserts one line at the very top or the very bottom of the
file `moment_s` seconds later; side "inside" types a word into a line the fix rewrites instead, which
must stop the rewrite (unless the fix already landed) and never lose the word. Trials run side by side
(one rewrite per file), a batch at a time, in the emulated editor (`run_emulated`) or in a real
`nvim --headless` with the README's plain setup (`run_neovim`). `judge` says what went wrong in a
trial, if anything; `dropped` counts the edits the editor dropped because the user's change crossed
them (the race the sweep is after).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import define

from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.node_options import node_options

HEAD = "import math\n\n\n"
BUGGY = '''def summary(values):
    """Mean and spread of the values."""
    values = list(values)
    total = sum(values)
    mean = total / len(values)
    low = min(values)
    high = max(values)
    spread = high - low
    return mean, spread, math.isfinite(mean)
'''
FUNCTION = '''def summary(values):
    """Mean and spread of the values."""
    values = list(values)
    total = sum(values)
    mean = total / len(values) if values else 0.0
    low = min(values, default=0.0)
    high = max(values, default=0.0)
    spread = high - low
    return mean, spread, math.isfinite(mean)
'''
TAIL = "\n\ndef untouched():\n    return 42\n"
SOURCE = HEAD + BUGGY + TAIL
FIXED_SOURCE = HEAD + FUNCTION + TAIL
CURSOR_LINE = 7
INSIDE_LINE = 8
TYPED = "# typed while the fix streamed"
TYPED_INSIDE = "USER "
SIDES = ("top", "bottom")
ALL_SIDES = (*SIDES, "inside")
MODELS = ["code-llama-7b", "wizardcoder-13b"]


@define
class Trial:
    """One moment and one side; what came back and what the buffer held afterwards."""

    moment_s: float
    side: str
    applied: bool | None = None
    message: str = ""
    text: str = ""
    dropped: int = 0


def answer_lines() -> list[str]:
    """The model's answer, one streamed piece per line: fence, the function, fence."""
    return ["```python\n", *FUNCTION.splitlines(keepends=True), "```\n"]


def node_script(line_s: float) -> dict[str, Any]:
    """The stub node's script: the answer one line every `line_s` seconds, the first after one interval."""
    return {"default": {"chunks": answer_lines(), "delay_s": line_s, "first_delay_s": line_s}}


def node_settings(url: str) -> dict[str, Any]:
    """Settings for one stub node serving the fix models, remote only, diagnostics off."""
    return node_options(url, MODELS)


def stream_seconds(line_s: float) -> float:
    """How long the whole answer takes to stream."""
    return line_s * len(answer_lines())


def trials(line_s: float, step_s: float, sides: Sequence[str] = SIDES) -> list[Trial]:
    """Every `step_s` from 0 to a little past the end of the stream, on each side."""
    steps = int((stream_seconds(line_s) + 0.3) / step_s) + 1
    return [Trial(round(i * step_s, 3), side) for side in sides for i in range(steps)]


def expected_text(side: str) -> str:
    """The full fix with the typed line kept where it was typed."""
    return TYPED + "\n" + FIXED_SOURCE if side == "top" else FIXED_SOURCE + TYPED + "\n"


def judge(trial: Trial) -> str | None:
    """What went wrong in a trial, or None: the fix must land in full and the typed line stay.

    Typed inside, the word must stay once; either the whole fix landed first, or the rewrite stopped
    saying so and nothing outside the function changed.
    """
    if trial.side == "inside":
        return _judge_inside(trial)
    if trial.applied is not True:
        return f"not applied ({trial.message!r})"
    if trial.text != expected_text(trial.side):
        return f"buffer is not the fix plus the typed line: {trial.text!r}"
    return None


def _judge_inside(trial: Trial) -> str | None:
    if trial.text.count(TYPED_INSIDE) != 1:
        return f"the word typed inside appears {trial.text.count(TYPED_INSIDE)} times: {trial.text!r}"
    rest = trial.text.replace(TYPED_INSIDE, "", 1)
    if trial.applied is True:
        return None if rest == FIXED_SOURCE else f"applied, but not the fix plus the word: {trial.text!r}"
    if "you edited the code being rewritten" not in trial.message:
        return f"stopped without saying the user's change stopped it ({trial.message!r})"
    if not (rest.startswith(HEAD + "def summary") and rest.endswith(TAIL)):
        return f"text outside the function changed: {trial.text!r}"
    return None


def describe(trial: Trial) -> str:
    """One line naming the trial and its failure."""
    return f"{trial.side} at {trial.moment_s:.3f}s: {judge(trial)}"


def batches(items: list[Trial], size: int) -> list[list[Trial]]:
    """The trials cut into batches that run side by side."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def run_emulated(editor: Editor, directory: Path, items: list[Trial], batch: int = 60) -> list[Trial]:
    """Run the trials in the emulated editor (already initialized against the node), a batch at a time."""
    count = 0
    for group in batches(items, batch):
        await asyncio.gather(*(_emulated(editor, directory / f"sweep{count + i}.py", t) for i, t in enumerate(group)))
        count += len(group)
    return items


async def _emulated(editor: Editor, path: Path, trial: Trial) -> None:
    uri = editor.open(path, SOURCE)
    dropped = len(editor.dropped)
    command = asyncio.ensure_future(
        run_command(editor.client, {"uri": uri, "task": "fix", "line": CURSOR_LINE, "endLine": CURSOR_LINE})
    )
    await asyncio.sleep(trial.moment_s)
    if trial.side == "inside":
        editor.type(uri, INSIDE_LINE, 4, TYPED_INSIDE)
    else:
        line = 0 if trial.side == "top" else len(editor.text(uri).splitlines())
        editor.type(uri, line, 0, TYPED + "\n")
    result = await asyncio.wait_for(command, 60)
    await editor.settled(uri)
    trial.applied, trial.message = result.get("applied"), str(result.get("message"))
    trial.text = editor.text(uri)
    trial.dropped = sum(1 for change in editor.dropped[dropped:] if change.text_document.uri == uri)
    editor.close(uri)


NEOVIM_INIT = """
vim.opt.swapfile = false
vim.opt.shadafile = 'NONE'
vim.opt.hidden = true
local spec = vim.json.decode([==[{spec}]==])
vim.lsp.config('freescode', {{
  cmd = spec.server, filetypes = {{ 'python' }}, root_markers = {{ 'freescode.toml', '.git' }},
  init_options = spec.settings,
}})
vim.lsp.enable('freescode')
"""

NEOVIM_SCRIPT = """
local spec = vim.json.decode([==[{spec}]==])
local out = {{ trials = {{}}, notes = {{}}, dropped = {{}} }}
vim.notify = function(msg) table.insert(out.notes, msg) end
local plain_print = print
print = function(...)
  local text = table.concat(vim.tbl_map(tostring, {{ ... }}), '')
  local uri = text:match('^Buffer (.-) newer than edits')
  if uri then out.dropped[uri] = (out.dropped[uri] or 0) + 1 end
  return plain_print(...)
end
local configured = false
local answer_configuration = vim.lsp.handlers['workspace/configuration']
vim.lsp.handlers['workspace/configuration'] = function(...)
  configured = true
  return answer_configuration(...)
end

local function run()
  local bufs = {{}}
  for i, trial in ipairs(spec.trials) do
    vim.cmd.edit(vim.fn.fnameescape(trial.path))
    bufs[i] = vim.api.nvim_get_current_buf()
  end
  assert(vim.wait(30000, function()
    if not configured then return false end
    for _, buf in ipairs(bufs) do
      local client = vim.lsp.get_clients({{ bufnr = buf, name = 'freescode' }})[1]
      if not (client and client.initialized) then return false end
    end
    return true
  end, 20), 'the freescode client did not attach to every buffer')
  vim.wait(200)
  local client = vim.lsp.get_clients({{ name = 'freescode' }})[1]
  for first = 1, #spec.trials, spec.batch do
    local pending = 0
    for i = first, math.min(first + spec.batch - 1, #spec.trials) do
      local trial, buf = spec.trials[i], bufs[i]
      local record = {{}}
      out.trials[i] = record
      pending = pending + 1
      local uri = vim.uri_from_bufnr(buf)
      local args = {{ uri = uri, task = 'fix', line = spec.line, endLine = spec.line }}
      client:request('workspace/executeCommand', {{ command = 'freescode.runTask', arguments = {{ args }} }},
        function(err, result)
          record.result = result or {{ applied = false, message = tostring(err and err.message or err) }}
          pending = pending - 1
        end, buf)
      vim.defer_fn(function()
        if trial.side == 'inside' then
          vim.api.nvim_buf_set_text(buf, spec.inside_line, 4, spec.inside_line, 4, {{ spec.typed_inside }})
        elseif trial.side == 'top' then
          vim.api.nvim_buf_set_lines(buf, 0, 0, false, {{ spec.typed }})
        else
          vim.api.nvim_buf_set_lines(buf, -1, -1, false, {{ spec.typed }})
        end
      end, math.floor(trial.moment_s * 1000))
    end
    assert(vim.wait(spec.timeout_ms, function() return pending == 0 end, 20), 'the rewrites did not finish')
    vim.wait(spec.settle_ms)
  end
  for i, buf in ipairs(bufs) do
    out.trials[i].lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    out.trials[i].dropped = out.dropped[vim.uri_from_bufnr(buf)] or 0
  end
end

local ok, err = xpcall(run, debug.traceback)
out.ok, out.error = ok, ok and vim.NIL or err
out.dropped = nil
local file = assert(io.open(spec.out, 'w'))
file:write(vim.json.encode(out))
file:close()
vim.cmd('qa!')
"""


def run_neovim(
    nvim: str, server: list[str], url: str, directory: Path, items: list[Trial], batch: int = 60, timeout: float = 600
) -> list[str]:
    """Run the trials in one real headless Neovim, a batch at a time; its notifications, or RuntimeError."""
    project = directory / "project"
    project.mkdir(parents=True, exist_ok=True)
    (project / "freescode.toml").write_text("")
    paths = []
    for i, _ in enumerate(items):
        path = project / f"sweep{i}.py"
        path.write_text(SOURCE)
        paths.append(str(path))
    out = directory / "sweep.json"
    spec = {
        "server": server,
        "settings": node_settings(url),
        "trials": [{"path": p, "side": t.side, "moment_s": t.moment_s} for p, t in zip(paths, items, strict=True)],
        "batch": batch,
        "line": CURSOR_LINE,
        "typed": TYPED,
        "typed_inside": TYPED_INSIDE,
        "inside_line": INSIDE_LINE,
        "timeout_ms": 60000,
        "settle_ms": 400,
        "out": str(out),
    }
    text = json.dumps(spec)
    assert "]==]" not in text
    init, script = directory / "init.lua", directory / "sweep.lua"
    init.write_text(NEOVIM_INIT.format(spec=json.dumps({"server": server, "settings": spec["settings"]})))
    script.write_text(NEOVIM_SCRIPT.format(spec=text))
    process = subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(init), "-c", f"luafile {script}"],
        check=False,
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if not out.exists():
        raise RuntimeError(f"nvim wrote no results (exit {process.returncode}): {process.stderr[-2000:]}")
    result = json.loads(out.read_text())
    if not result["ok"]:
        raise RuntimeError(f"the Neovim sweep failed: {result['error']}")
    for trial, record in zip(items, result["trials"], strict=True):
        answer = record.get("result") or {}
        trial.applied, trial.message = answer.get("applied"), str(answer.get("message"))
        trial.text = "".join(line + "\n" for line in record.get("lines", []))
        trial.dropped = int(record.get("dropped", 0))
    return [str(note) for note in result["notes"]]
