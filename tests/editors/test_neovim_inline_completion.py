"""Ghost text in a real `nvim --headless` (Neovim 0.12's vim.lsp.inline_completion) from the real freescode-lsp.

The stub node answers every model request with a known suggestion, so the test can say what the ghost text
reads and what the buffer holds once the plugin's accept key takes it. The scripts stay in Insert mode
(`nvim_feedkeys` with "x!") while a timer watches the inline completion extmarks and presses the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freescode_lsp.testing.neovim import lua_value, node_settings, run_nvim
from freescode_lsp.testing.real_editors import write_source
from freescode_lsp.testing.samples import FIXED_SOURCE, SOURCE

SOURCE_LINES = SOURCE.splitlines()

SUGGESTION = [" **", " 2"]
LINE = 6  # "    result = math.pi * radius", completed to "... radius ** 2"
NOT_OFFERED = "the server does not offer textDocument/inlineCompletion (no inlineCompletionProvider)"

# In Insert mode at the end of LINE: wait for the ghost text, record it, press the accept key, wait for the
# buffer to change, record, leave Insert mode. `accept` is the key, or nil to only watch for the ghost text.
WATCH = r"""
local sent = 0
vim.api.nvim_create_autocmd("LspRequest", { callback = function(ev)
  local request = ev.data.request
  if request.type == "pending" and request.method == "textDocument/inlineCompletion" then
    sent = sent + 1
  end
end })

local function watch(accept, ms)
  local ns = vim.api.nvim_create_namespace("nvim.lsp.inline_completion")
  local deadline = vim.uv.now() + ms
  local before = T.lines()
  local timer = assert(vim.uv.new_timer())
  local seen = {}
  local sent_before = sent
  timer:start(50, 50, vim.schedule_wrap(function()
    local marks = vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
    if #marks > 0 and seen.ghost == nil then
      local details = marks[1][4]
      local text = {}
      for _, chunk in ipairs(details.virt_text or {}) do
        table.insert(text, chunk[1])
      end
      seen.ghost = { row = marks[1][2], col = marks[1][3], text = table.concat(text),
        virt_lines = #(details.virt_lines or {}), lines = T.lines() }
      if accept then
        vim.api.nvim_feedkeys(vim.keycode(accept), "m", false)
      end
    end
    local changed = not vim.deep_equal(T.lines(), before)
    if changed or (accept == nil and seen.ghost) or vim.uv.now() > deadline then
      seen.changed = changed
      seen.marks_after = #vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {})
      seen.mode = vim.api.nvim_get_mode().mode
      seen.cursor = vim.api.nvim_win_get_cursor(0)
      seen.sent = sent - sent_before
      timer:stop()
      timer:close()
      vim.api.nvim_feedkeys(vim.keycode("<Esc>"), "n", false)
    end
  end))
  vim.api.nvim_win_set_cursor(0, { LINE, 0 })
  vim.api.nvim_feedkeys("A", "nx!", false)
  return seen
end
""".replace("LINE", str(LINE))


def completion_settings(url: str) -> dict[str, Any]:
    """The stub node for every model, the `complete` task routed to one it serves (the node serves the embedded
    model too, where the `complete` task falls back to)."""
    settings = node_settings(url)
    settings["nodes"][0]["models"].append("gemma-3-270m")
    settings["routing"] = {"complete": "code-llama-7b"}
    return settings


def nvim_with(tmp_path: Path, url: str, options: dict[str, Any], body: str, *, offered_only: bool = True) -> dict[str, Any]:
    """Run `body` after setup() is called again with `options` added, the file opened and WATCH defined;
    with `offered_only`, only when the server offers inline completion."""
    path = write_source(tmp_path)
    return run_nvim(
        tmp_path,
        completion_settings(url),
        f"""
        local freescode = require("freescode")
        freescode.setup(vim.tbl_extend("force", freescode.options, {lua_value(options)}))
        {WATCH}
        local client = T.open({lua_value(str(path))})
        T.results.offered = client:supports_method("textDocument/inlineCompletion")
        T.results.health = {{ require("freescode.completion").health() }}
        T.results.enabled = vim.lsp.inline_completion.is_enabled({{ bufnr = 0 }})
        if {"true" if offered_only else "false"} and not T.results.offered then
          return
        end
        {body}
        """,
    )


def completion_requests(stub_node: Any) -> list[dict[str, Any]]:
    """The bodies the stub node received on /v1/completions."""
    return [r["body"] for r in stub_node.records() if r["path"].endswith("/v1/completions")]


def test_ghost_text_appears_and_the_accept_key_takes_it(stub_node, tmp_path: Path) -> None:
    """In Insert mode at the end of a line the node's suggestion shows as ghost text; <Tab> puts it in the buffer."""
    stub_node.set_script({"default": {"chunks": SUGGESTION}})
    result = nvim_with(
        tmp_path,
        stub_node.url,
        {"accept_key": "<Tab>"},
        """
        T.results.seen = watch("<Tab>", 30000)
        T.results.maps = vim.fn.maparg("<Tab>", "i", false, true).desc
        """,
    )
    assert result["results"]["health"][0] == "ok", result["results"]["health"]
    assert result["results"]["offered"], NOT_OFFERED
    assert result["results"]["enabled"] is True
    seen = result["results"]["seen"]
    ghost = seen.get("ghost")
    assert ghost is not None, "no ghost text appeared"
    assert ghost["text"] == "".join(SUGGESTION)
    assert (ghost["row"], ghost["col"], ghost["virt_lines"]) == (LINE - 1, len(SOURCE_LINES[LINE - 1]), 0)
    assert ghost["lines"] == SOURCE_LINES, "the ghost text is not in the buffer before it is accepted"
    assert seen["changed"] is True and seen["sent"] >= 1
    assert result["lines"] == FIXED_SOURCE.splitlines()
    assert seen["marks_after"] == 0
    assert (seen["mode"], seen["cursor"]) == ("i", [LINE, len(FIXED_SOURCE.splitlines()[LINE - 1])])
    assert result["results"]["maps"] == "Free-S_Code: accept the suggestion"
    requests = completion_requests(stub_node)
    assert requests, [r["path"] for r in stub_node.records()]
    assert "result = math.pi * radius" in requests[0]["prompt"]


def test_turned_off_in_setup_no_suggestion_is_asked_for(stub_node, tmp_path: Path) -> None:
    """With `completion = false` Insert mode asks nothing; the same buffer with inline completion on does."""
    stub_node.set_script({"default": {"chunks": SUGGESTION}})
    result = nvim_with(
        tmp_path,
        stub_node.url,
        {"completion": False, "accept_key": "<Tab>"},
        """
        T.results.off = watch(nil, 1500)
        T.results.maps = vim.fn.maparg("<Tab>", "i", false, true).desc or ""
        vim.lsp.inline_completion.enable(true, { bufnr = 0 })
        T.results.on = watch(nil, 30000)
        """,
    )
    assert result["results"]["health"][0] == "info", result["results"]["health"]
    assert result["results"]["enabled"] is False
    assert result["results"]["offered"], NOT_OFFERED
    off, on = result["results"]["off"], result["results"]["on"]
    assert (off.get("ghost"), off["changed"], off["sent"]) == (None, False, 0)
    assert result["results"]["maps"] != "Free-S_Code: accept the suggestion", "the accept key is mapped though completion is off"
    assert on["sent"] >= 1 and on.get("ghost", {}).get("text") == "".join(SUGGESTION), on
    assert result["lines"] == SOURCE_LINES
    assert len(completion_requests(stub_node)) >= 1


def test_a_neovim_without_inline_completion_is_told_apart(stub_node, tmp_path: Path) -> None:
    """Where vim.lsp.inline_completion cannot load (Neovim 0.11), attaching turns nothing on and :checkhealth warns."""
    result = nvim_with(
        tmp_path,
        stub_node.url,
        {},
        """
        vim.cmd.enew()
        package.loaded["vim.lsp.inline_completion"] = nil
        package.preload["vim.lsp.inline_completion"] = function() error("not in this Neovim") end
        T.results.attached = require("freescode.completion").on_attach(0)
        T.results.buffer_switch = vim.b._lsp_enabled_inline_completion or vim.NIL
        T.results.health = { require("freescode.completion").health() }
        """,
        offered_only=False,
    )
    assert result["results"]["attached"] is False
    assert result["results"]["buffer_switch"] is None
    level, text = result["results"]["health"]
    assert level == "warn" and "need Neovim 0.12 or newer" in text, text


def test_with_no_suggestion_the_accept_key_does_what_it_did(stub_node, tmp_path: Path) -> None:
    """accept_key = "<Tab>" over a Lua mapping of <Tab> (Neovim's own jumps in snippets): with no ghost text
    shown, <Tab> runs that mapping, also after the server attaches to the buffer again."""
    result = nvim_with(
        tmp_path,
        stub_node.url,
        {"accept_key": "<Tab>"},
        """
        vim.keymap.set("i", "<Tab>", function() return "before " end, { expr = true })
        vim.cmd.enew()
        local completion = require("freescode.completion")
        completion.on_attach(0)
        vim.api.nvim_feedkeys(vim.keycode("i<Tab><Esc>"), "x", false)
        completion.on_attach(0)
        vim.api.nvim_feedkeys(vim.keycode("A<Tab><Esc>"), "x", false)
        T.results.typed = vim.api.nvim_get_current_line()
        T.results.desc = vim.fn.maparg("<Tab>", "i", false, true).desc
        """,
        offered_only=False,
    )
    assert result["results"]["desc"] == "Free-S_Code: accept the suggestion"
    assert result["results"]["typed"] == "before before "


def test_suggestion_statuses_leave_the_last_task_in_the_statusline(tmp_path: Path) -> None:
    """A `complete` status fires FreescodeStatus but the statusline and :FreescodeStatus keep the last task."""
    result = run_nvim(
        tmp_path,
        None,
        """
        local status = require("freescode.status")
        status.on_status(nil, { state = "done", task = "fix", model = "code-llama-7b", completionTokens = 7 }, {})
        status.on_status(nil, { state = "running", task = "complete", model = "starcoder2-3b" }, {})
        T.results.statusline = require("freescode").statusline()
        T.results.described = status.describe()[1]
        """,
    )
    assert result["results"]["statusline"] == "freescode: fix by code-llama-7b (7 tok)"
    assert result["results"]["described"] == "freescode: fix done"
    assert [s["task"] for s in result["statuses"]] == ["fix", "complete"]
