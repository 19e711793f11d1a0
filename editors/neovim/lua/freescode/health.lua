-- :checkhealth freescode — the server, the settings, the models and the nodes (best effort).
local M = {}

local health = vim.health
local VERSION_TIMEOUT_MS = 10000
local CLI_TIMEOUT_MS = 15000
local NODE_TIMEOUT_S = 3

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

--- Validate the editor settings with the server's own code: write them as TOML, name the file in
--- FREESCODE_CONFIG and run `freescode models --json`, which reports problems on stderr.
local function check_settings(config, settings)
  health.start("freescode: settings and models")
  local cli = require("freescode").cli(config.cmd)
  if vim.fn.executable(cli[1]) == 0 then
    health.warn(("cannot check settings and models: %s is not executable"):format(cli[1]), {
      'set the CLI with require("freescode").setup({ cli = { "/path/to/freescode" } })',
    })
    return nil
  end
  local file = vim.fn.tempname() .. ".toml"
  vim.fn.writefile(vim.split(require("freescode.toml").encode(settings), "\n", { plain = true }), file)
  local cmd = vim.list_extend(vim.deepcopy(cli), { "models", "--json" })
  local root = vim.fs.root(0, config.root_markers or {}) or vim.uv.cwd()
  local out = run(cmd, { cwd = root, env = { FREESCODE_CONFIG = file } }, CLI_TIMEOUT_MS)
  vim.fn.delete(file)
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
local DOCTOR_SECTIONS = { python = true, ["llama-cpp-python"] = true, ["llama.cpp build"] = true,
  models = true, ["embedded model"] = true }

--- `freescode doctor --json`: Python, the llama.cpp build and the CPU features it uses, and whether the
--- embedded model loads and answers (tried in a child process), each problem with what to do.
local function check_doctor(config)
  health.start("freescode: llama.cpp and local models (freescode doctor)")
  local cli = require("freescode").cli(config.cmd)
  if vim.fn.executable(cli[1]) == 0 then
    health.warn(("cannot run freescode doctor: %s is not executable"):format(cli[1]))
    return
  end
  local cmd = vim.list_extend(vim.deepcopy(cli), { "doctor", "--json" })
  local root = vim.fs.root(0, config.root_markers or {}) or vim.uv.cwd()
  local out = run(cmd, { cwd = root }, DOCTOR_TIMEOUT_MS)
  local ok, checks = pcall(vim.json.decode, out.stdout or "")
  if not ok or type(checks) ~= "table" then
    health.error(("`%s` printed no report (exit %s): %s"):format(table.concat(cmd, " "), tostring(out.code),
      first_line(out.stderr)))
    return
  end
  for _, check in ipairs(checks) do
    if DOCTOR_SECTIONS[check.name] or tostring(check.name):match("^model ") then
      local text = ("%s: %s"):format(check.name, check.detail)
      local advice = check.todo ~= "" and { check.todo } or nil
      if check.status == "ok" then
        health.ok(text)
      elseif check.status == "warn" then
        health.warn(text, advice)
      else
        health.error(text, advice)
      end
    end
  end
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

--- "HTTP 200" / nil, reason: one GET with a short timeout; the key (if any) goes through stdin.
local function probe(url, api_key)
  if vim.fn.executable("curl") == 0 then
    return M.tcp_probe(url)
  end
  local cmd = { "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", tostring(NODE_TIMEOUT_S), url }
  local opts = nil
  if api_key then
    table.insert(cmd, 2, "-H")
    table.insert(cmd, 3, "@-")
    opts = { stdin = "Authorization: Bearer " .. api_key .. "\n" }
  end
  local out = run(cmd, opts, (NODE_TIMEOUT_S + 2) * 1000)
  local code = tonumber(vim.trim(out.stdout))
  if code and code > 0 then
    return code
  end
  return nil, first_line(out.stderr) ~= "" and first_line(out.stderr) or "no answer"
end

--- Without curl: a TCP connection only. Returns 0 when connected (no HTTP status known).
function M.tcp_probe(url)
  local scheme, host, port = url:match("^(https?)://([^/:]+):?(%d*)")
  if not host then
    return nil, "not an http(s) URL"
  end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local infos = vim.uv.getaddrinfo(host, tostring(port), { socktype = "stream" })
  if not infos or not infos[1] then
    return nil, "cannot resolve " .. host
  end
  local tcp = assert(vim.uv.new_tcp())
  local result, reason = nil, "timed out"
  tcp:connect(infos[1].addr, port, function(err)
    result, reason = err == nil and 0 or nil, err
  end)
  vim.wait(NODE_TIMEOUT_S * 1000, function()
    return result ~= nil or reason ~= "timed out"
  end, 20)
  tcp:close()
  return result, reason
end

local function api_key_of(node)
  if type(node.api_key) == "string" then
    return node.api_key
  end
  if type(node.api_key_env) == "string" then
    return vim.env[node.api_key_env]
  end
  return nil
end

local function models_url(url)
  url = url:gsub("/+$", "")
  return url:match("/v1$") and url .. "/models" or url .. "/v1/models"
end

local function check_nodes(settings)
  health.start("freescode: nodes")
  local nodes = settings.nodes or {}
  local registry = (settings.network or {}).registry
  if #nodes == 0 and type(registry) ~= "string" then
    health.info("no nodes or registry in the editor settings (freescode.toml may still name some)")
    return
  end
  for _, node in ipairs(nodes) do
    if type(node.url) == "string" then
      local code, reason = probe(models_url(node.url), api_key_of(node))
      if code == 200 or code == 0 then
        health.ok(("%s is reachable"):format(node.url))
      elseif code == 401 or code == 403 then
        health.warn(("%s answered HTTP %d: check api_key / api_key_env"):format(node.url, code))
      elseif code then
        health.warn(("%s answered HTTP %d"):format(node.url, code))
      else
        health.error(("%s is not reachable: %s"):format(node.url, reason))
      end
    end
  end
  if type(registry) == "string" then
    local code, reason = probe(registry:gsub("/+$", "") .. "/health")
    if code == 200 or code == 0 then
      health.ok(("registry %s is reachable"):format(registry))
    elseif code then
      health.warn(("registry %s answered HTTP %d"):format(registry, code))
    else
      health.error(("registry %s is not reachable: %s"):format(registry, reason))
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
  check_doctor(config)
  local models = check_settings(config, settings)
  if models then
    check_models(models, settings)
  end
  check_nodes(settings)
  check_client()
end

return M
