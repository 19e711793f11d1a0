-- Ghost text as you type: the server's LSP 3.18 textDocument/inlineCompletion shown by Neovim's own
-- vim.lsp.inline_completion (Neovim 0.12 or newer), turned on for each buffer the server attaches to.
local M = {}

--- Neovim's inline completion module, or nil when this Neovim has none (before 0.12).
function M.api()
  local ok, module = pcall(require, "vim.lsp.inline_completion")
  if ok and type(module) == "table" and type(module.enable) == "function" then
    return module
  end
  return nil
end

--- Whether the plugin's options leave suggestions on: `completion = false`, or
--- `settings.completion.enabled = false` (the server's own switch), turns them off.
function M.wanted(options)
  if options.completion == false then
    return false
  end
  local section = type(options.settings) == "table" and options.settings.completion or nil
  return not (type(section) == "table" and section.enabled == false)
end

--- Whether the server's settings turn suggestions off for this filetype (`completion.disabled_languages`).
local function disabled_for(options, filetype)
  local section = type(options.settings) == "table" and options.settings.completion or nil
  local languages = type(section) == "table" and section.disabled_languages or nil
  return type(languages) == "table" and vim.list_contains(languages, filetype)
end

--- What the key did before the accept mapping: a Lua mapping's callback (Neovim's own `<Tab>` jumps in a
--- snippet), else the key itself.
local function previous_use(bufnr, key)
  local previous = vim.api.nvim_buf_call(bufnr, function()
    return vim.fn.maparg(key, "i", false, true)
  end)
  if type(previous.callback) ~= "function" then
    return function()
      return key
    end
  end
  if previous.expr == 1 then
    return previous.callback
  end
  return function()
    previous.callback()
    return ""
  end
end

-- Per buffer and key, what the key did before the plugin mapped it (kept when a client attaches again).
local before_mapping = {}

--- The Insert mode key that accepts the shown suggestion; with none shown, the key does what it did.
local function map_accept(bufnr, key, inline)
  before_mapping[bufnr] = before_mapping[bufnr] or {}
  before_mapping[bufnr][key] = before_mapping[bufnr][key] or previous_use(bufnr, key)
  local otherwise = before_mapping[bufnr][key]
  vim.keymap.set("i", key, function()
    if not inline.get() then
      return otherwise()
    end
  end, { buffer = bufnr, expr = true, desc = "Free-S_Code: accept the suggestion" })
end

--- LspAttach of the freescode client: ghost text on in this buffer, and the accept key if one is set.
--- Returns true when inline completion was turned on.
function M.on_attach(bufnr)
  local options = require("freescode").options
  local inline = M.api()
  if inline == nil or not M.wanted(options) or disabled_for(options, vim.bo[bufnr].filetype) then
    return false
  end
  -- Per buffer: the client is attached to it only after LspAttach, and a buffer's switch decides
  -- whether Neovim asks while typing there.
  inline.enable(true, { bufnr = bufnr })
  if type(options.accept_key) == "string" and options.accept_key ~= "" then
    map_accept(bufnr, options.accept_key, inline)
  end
  return true
end

--- One line for :checkhealth: whether this Neovim shows suggestions, and why not.
function M.health()
  if M.api() == nil then
    return "warn", ("Neovim %s has no vim.lsp.inline_completion: suggestions as you type need Neovim 0.12 or newer "
      .. "(the tasks, hover and diagnostics work without it)"):format(tostring(vim.version()))
  end
  if not M.wanted(require("freescode").options) then
    return "info", "suggestions as you type are turned off (completion = false or settings.completion.enabled = false)"
  end
  return "ok", "suggestions as you type: vim.lsp.inline_completion is on in buffers freescode attaches to"
end

return M
