-- :checkhealth freescode — the server, the settings, the models and the nodes, as `freescode doctor` sees them.
local M = {}

local health = vim.health
local VERSION_TIMEOUT_MS = 10000
local CLI_TIMEOUT_MS = 15000

--- Run a command to completion: { code, stdout, stderr }; code -1 when it could not start.
local function run(cmd, opts, timeout_ms)
  local ok, process = pcall(vim.system, cmd, vim.tbl_extend("force", { text = true }, opts or {}))
  if not ok then
    return { code = -1, stdout = "", stderr = tostring(process) }
  end
  local out = process:wait(timeout_ms)
  return { code = out.code, stdout = out.stdout or "", stderr = out.stderr or "", signal = out.signal }
end

local function first_line(text)
  return vim.trim(vim.split(vim.trim(text or ""), "\n", { plain = true })[1] or "")
end

--- The resolved LSP config and the editor settings in it (initializationOptions, then settings.freescode).
local function resolved()
  local config = vim.lsp.config.freescode or require("freescode").lsp_config()
  local init_options = type(config.init_options) == "table" and config.init_options or {}
  local section = type(config.settings) == "table" and config.settings.freescode or nil
  local settings = vim.tbl_deep_extend("force", init_options, type(section) == "table" and section or {})
  return config, settings
end

local function check_neovim()
  health.start("freescode: Neovim")
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.11 or newer is needed (vim.lsp.config / vim.lsp.enable)")
  end
  local level, text = require("freescode.completion").health()
  health[level](text)
end

local function check_server(config)
  health.start("freescode: language server")
  local cmd = config.cmd
  if type(cmd) ~= "table" then
    health.info("cmd is a function (e.g. a TCP connection); not checked")
    return
  end
  if vim.fn.executable(cmd[1]) == 0 then
    health.error(("%s is not executable"):format(cmd[1]), {
      "pip install freescode-lsp (or make install in the project), then make sure it is on $PATH",
      'or pass its full path: require("freescode").setup({ cmd = { "/path/to/freescode-lsp" } })',
    })
    return
  end
  health.ok(("found %s"):format(vim.fn.exepath(cmd[1])))
  local version_cmd = vim.list_extend(vim.deepcopy(cmd), { "--version" })
  local out = run(version_cmd, nil, VERSION_TIMEOUT_MS)
  if out.code == 0 then
    health.ok(first_line(out.stdout ~= "" and out.stdout or out.stderr))
  else
    health.error(("`%s` failed (exit %d): %s"):format(table.concat(version_cmd, " "), out.code, first_line(out.stderr)))
  end
end

--- The editor settings as a TOML file for FREESCODE_CONFIG, so the CLI reads them as the server does; nil, reason
--- when they cannot be written.
local function settings_file(settings)
  local file = vim.fn.tempname() .. ".toml"
  local ok, err = pcall(vim.fn.writefile, vim.split(require("freescode.toml").encode(settings), "\n", { plain = true }), file)
  if not ok then
    return nil, tostring(err)
  end
  return file
end

--- Validate the editor settings with the server's own code: `freescode models --json` reads them from
--- FREESCODE_CONFIG and reports problems on stderr.
local function check_settings(cli, root, file)
  health.start("freescode: settings and models")
  local cmd = vim.list_extend(vim.deepcopy(cli), { "models", "--json" })
  local out = run(cmd, { cwd = root, env = { FREESCODE_CONFIG = file } }, CLI_TIMEOUT_MS)
  local problems = {}
  for _, line in ipairs(vim.split(out.stderr, "\n", { plain = true })) do
    local problem = line:match("^freescode: config: (.*)$")
    if problem then
      table.insert(problems, (problem:gsub(vim.pesc(file), "editor settings")))
    end
  end
  for _, problem in ipairs(problems) do
    health.warn(problem)
  end
  if out.code ~= 0 then
    health.error(("`%s` failed (exit %d): %s"):format(table.concat(cmd, " "), out.code, first_line(out.stderr)))
    return nil
  end
  if #problems == 0 then
    health.ok("settings are valid (checked by `freescode models`, with freescode.toml and your config file)")
  end
  local ok, models = pcall(vim.json.decode, out.stdout)
  if not ok or type(models) ~= "table" then
    health.warn("`freescode models --json` printed no model list")
    return nil
  end
  return models
end

local DOCTOR_TIMEOUT_MS = 120000

--- `freescode doctor --json` with the editor settings: its checks, or nil and why there are none. The network
--- section is doctor's alone (the key sent, bounded reads, deadlines), so this health check and doctor agree.
local function run_doctor(cli, root, file)
  local cmd = vim.list_extend(vim.deepcopy(cli), { "doctor", "--json" })
  local out = run(cmd, { cwd = root, env = { FREESCODE_CONFIG = file } }, DOCTOR_TIMEOUT_MS)
  local ok, checks = pcall(vim.json.decode, out.stdout or "")
  if not ok or type(checks) ~= "table" then
    return nil, ("`%s` printed no report (exit %s): %s"):format(table.concat(cmd, " "), tostring(out.code),
      first_line(out.stderr))
  end
  return checks
end

--- Show the doctor checks of some sections, each with what to do when it is not ok.
local function show_doctor(checks, sections)
  local shown = 0
  for _, check in ipairs(checks) do
    if type(check) == "table" and sections[check.section] then
      shown = shown + 1
      local text = ("%s: %s"):format(check.name, check.detail)
      local advice = type(check.todo) == "string" and check.todo ~= "" and { check.todo } or nil
      if check.status == "ok" then
        health.ok(text)
      elseif check.status == "warn" then
        health.warn(text, advice)
      else
        health.error(text, advice)
      end
    end
  end
  return shown
end

--- The node URLs that serve each model, from the editor settings.
local function served_by_nodes(settings)
  local served = {}
  for _, node in ipairs(settings.nodes or {}) do
    for _, model in ipairs(node.models or {}) do
      served[model] = true
    end
  end
  return served
end

local function check_models(models, settings)
  local here, elsewhere = {}, {}
  local served = served_by_nodes(settings)
  for _, model in ipairs(models) do
    if model.available == "local" or (type(model.sources) == "table" and vim.list_contains(model.sources, "local")) then
      table.insert(here, model.id)
    elseif served[model.id] then
      table.insert(elsewhere, model.id)
    end
  end
  if #here > 0 then
    health.ok("models on this machine: " .. table.concat(here, ", "))
  end
  if #elsewhere > 0 then
    health.ok("models on configured nodes: " .. table.concat(elsewhere, ", "))
  end
  if #here == 0 and #elsewhere == 0 then
    health.warn("no model can run: neither a local .gguf nor a node", {
      "freescode models pull ID downloads a model; the embedded gemma-3-270m is assembled on first use",
      "or add a node: settings = { nodes = { { url = ..., models = { ... } } } }",
    })
  end
  local mode = (settings.network or {}).mode
  if mode == "local-only" and #here == 0 then
    health.warn("network.mode is local-only but no model file is on this machine")
  elseif mode == "remote-only" and #elsewhere == 0 then
    health.warn("network.mode is remote-only but no node is configured for any model")
  end
end

--- Everything the CLI checks, with the editor settings: doctor's sections and `freescode models`.
local function check_with_cli(config, settings)
  local cli = require("freescode").cli(config.cmd)
  if vim.fn.executable(cli[1]) == 0 then
    health.start("freescode: settings, models and nodes")
    health.warn(("cannot run the freescode CLI: %s is not executable"):format(cli[1]), {
      'set the CLI with require("freescode").setup({ cli = { "/path/to/freescode" } })',
    })
    return
  end
  local file, reason = settings_file(settings)
  if not file then
    health.start("freescode: settings, models and nodes")
    health.error("cannot write the editor settings to a temporary file: " .. reason)
    return
  end
  local root = vim.fs.root(0, config.root_markers or {}) or vim.uv.cwd()
  local checks, problem = run_doctor(cli, root, file)
  health.start("freescode: llama.cpp and local models (freescode doctor)")
  if checks then
    show_doctor(checks, { install = true, models = true })
  else
    health.error(problem)
  end
  local models = check_settings(cli, root, file)
  vim.fn.delete(file)
  if models then
    check_models(models, settings)
  end
  if not checks then
    return
  end
  for _, part in ipairs({
    { "tasks", "freescode: which model answers each task (freescode doctor)" },
    { "network", "freescode: nodes and registry (freescode doctor)" },
  }) do
    health.start(part[2])
    if show_doctor(checks, { [part[1]] = true }) == 0 then
      health.info("`freescode doctor --json` reported nothing here: is the CLI as new as this plugin?")
    end
  end
end

local function check_client()
  health.start("freescode: this session")
  local clients = vim.lsp.get_clients({ name = "freescode" })
  if #clients == 0 then
    health.info("no freescode client is running (it starts when a buffer of a configured filetype opens)")
  end
  for _, client in ipairs(clients) do
    health.ok(("client %d running, root %s"):format(client.id, client.root_dir or "(none: single file)"))
  end
  local status = require("freescode.status")
  if status.last then
    health.info(table.concat(status.describe(), "\n"))
  end
end

function M.check()
  local config, settings = resolved()
  check_neovim()
  check_server(config)
  check_with_cli(config, settings)
  check_client()
end

return M
