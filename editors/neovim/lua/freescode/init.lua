-- Free-S_Code for Neovim (>= 0.11): registers the freescode-lsp server with vim.lsp.config and
-- enables it. The Ex commands live in plugin/freescode.lua and call into freescode.tasks.
local M = {}

M.name = "freescode"

M.defaults = {
  -- The language server; `{ "python", "-m", "freescode_lsp.lsp.server" }` works too.
  cmd = { "freescode-lsp" },
  -- The `freescode` command line (for :FreescodeUsage and :checkhealth); nil: derived from cmd.
  cli = nil,
  filetypes = {
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "rust", "go",
    "java", "c", "cpp", "ruby", "lua", "sh", "php", "cs", "kotlin", "swift",
  },
  root_markers = { "freescode.toml", ".git" },
  -- Same schema as freescode.toml: routing, models, local, nodes, network, server, completion.
  settings = {},
  -- Echo the server's work-done progress in the command line.
  progress = true,
  -- Ghost text as you type (Neovim 0.12+, vim.lsp.inline_completion); false: off.
  completion = true,
  -- An Insert mode key that accepts the ghost text, e.g. "<Tab>" or "<M-l>"; when no suggestion
  -- shows, the key does what it did. nil: no mapping (call vim.lsp.inline_completion.get() yourself).
  accept_key = nil,
}

M.options = vim.deepcopy(M.defaults)

--- The options with `opts` laid over the defaults; each given key replaces the default whole.
local function with_defaults(opts)
  local options = vim.deepcopy(M.defaults)
  for key, value in pairs(opts or {}) do
    options[key] = value
  end
  return options
end

--- The `freescode` CLI next to the server command (default: the configured one):
--- freescode-lsp -> freescode, `python -m freescode_lsp.lsp.server` -> `python -m freescode_lsp.cli`.
function M.cli(server_cmd)
  local options = M.options
  if options.cli then
    return vim.deepcopy(options.cli)
  end
  server_cmd = server_cmd or options.cmd
  local cmd = type(server_cmd) == "table" and server_cmd or {}
  local program = cmd[1]
  if program and vim.fs.basename(program) == "freescode-lsp" then
    if not program:find("/", 1, true) then
      return { "freescode" }
    end
    return { vim.fs.joinpath(vim.fs.dirname(program), "freescode") }
  end
  if program and cmd[2] == "-m" and (cmd[3] == "freescode_lsp.lsp.server" or cmd[3] == "freescode_lsp.server") then
    return { program, "-m", "freescode_lsp.cli" }
  end
  return { "freescode" }
end

--- The vim.lsp.config table for the current options (lsp/freescode.lua returns the same).
function M.lsp_config()
  local options = M.options
  local settings = options.settings or {}
  local has_settings = next(settings) ~= nil
  return {
    cmd = options.cmd,
    filetypes = options.filetypes,
    root_markers = options.root_markers,
    -- An empty Lua table would be sent as a JSON list; send nothing instead.
    init_options = has_settings and settings or nil,
    settings = { freescode = has_settings and settings or vim.empty_dict() },
    handlers = {
      ["freescode/status"] = function(err, result, ctx)
        require("freescode.status").on_status(err, result, ctx)
      end,
    },
  }
end

--- Configure and enable the server. Call once from your config; calling again re-applies options.
function M.setup(opts)
  M.options = with_defaults(opts)
  local cmd = M.options.cmd
  if type(cmd) == "table" and vim.fn.executable(cmd[1]) == 0 then
    vim.notify(
      ("freescode: %s is not executable; install freescode-lsp or set `cmd` in setup()"):format(cmd[1]),
      vim.log.levels.WARN
    )
  end
  vim.lsp.config(M.name, M.lsp_config())
  vim.lsp.enable(M.name)
end

--- The freescode client attached to a buffer (0: current), if any.
function M.client(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr or 0, name = M.name })[1]
end

--- A short text for the statusline: the running task or the last one's model and speed.
function M.statusline()
  return require("freescode.status").statusline()
end

--- Run a task (fix, debug, clean, refactor, analyze) on the cursor's unit or a line range.
--- `range`: nil for the cursor, else { line1, line2 } (1-based, inclusive). `on_done(err, result)` is optional.
function M.run(task, range, on_done)
  return require("freescode.tasks").run(task, range, on_done)
end

return M
