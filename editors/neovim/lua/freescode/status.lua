-- The last `freescode/status` notification, the statusline text, and work-done progress.
local M = {}

--- The last status the server sent (nil until a task has run), with JSON nulls as nil.
M.last = nil

-- Progress tokens that began and have not ended, per client id: token -> title.
M.running = {}

local RUNNING = { streaming = true, running = true }

--- JSON null (vim.NIL) as nil.
local function value(x)
  if x == vim.NIL then
    return nil
  end
  return x
end

--- A copy of a notification body without vim.NIL.
local function plain(result)
  local out = {}
  for key, x in pairs(result or {}) do
    out[key] = value(x)
  end
  return out
end

--- Ghost text runs as this task: its statuses fire the event but never replace the last task.
M.COMPLETION_TASK = "complete"

--- Handler for the `freescode/status` notification; fires `User FreescodeStatus` with the body.
function M.on_status(_, result, ctx)
  local status = plain(result)
  status.client_id = ctx and ctx.client_id
  if status.task == M.COMPLETION_TASK then
    vim.api.nvim_exec_autocmds("User", { pattern = "FreescodeStatus", modeline = false, data = status })
    return
  end
  M.last = status
  vim.api.nvim_exec_autocmds("User", { pattern = "FreescodeStatus", modeline = false, data = status })
  pcall(vim.cmd.redrawstatus)
end

--- "fix by code-llama-7b (42 tok, 12.5 tok/s)", "fix with code-llama-7b..." while running, or "".
function M.statusline()
  local s = M.last
  if not s then
    return ""
  end
  local task, model = s.task or "task", s.model or "?"
  if RUNNING[s.state] then
    return ("freescode: %s with %s..."):format(task, model)
  end
  if s.state == "failed" then
    return ("freescode: %s failed (%s)"):format(task, model)
  end
  local text = ("freescode: %s by %s (%d tok"):format(task, model, s.completionTokens or 0)
  if s.tokensPerSecond then
    text = text .. (", %.1f tok/s"):format(s.tokensPerSecond)
  end
  if (s.costUsd or 0) > 0 then
    text = text .. (", $%.4f"):format(s.costUsd)
  end
  return text .. ")"
end

--- The last status as lines for :FreescodeStatus.
function M.describe()
  local s = M.last
  if not s then
    return { "freescode: no task has run yet" }
  end
  local lines = { ("freescode: %s %s"):format(s.task or "task", s.state or "?") }
  local model = s.model or "?"
  if s.requestedModel and s.requestedModel ~= s.model then
    model = ("%s (asked for %s)"):format(model, s.requestedModel)
  end
  table.insert(lines, "  model    " .. model)
  if type(s.fallbackReason) == "string" then
    table.insert(lines, "  why      " .. s.fallbackReason)
  end
  if s.engine then
    table.insert(lines, "  engine   " .. s.engine)
  end
  table.insert(lines, ("  tokens   %d prompt, %d completion"):format(s.promptTokens or 0, s.completionTokens or 0))
  if s.seconds then
    local speed = s.tokensPerSecond and (", %.1f tokens/s"):format(s.tokensPerSecond) or ""
    table.insert(lines, ("  time     %.2f s%s"):format(s.seconds, speed))
  end
  if s.costUsd then
    table.insert(lines, ("  cost     $%.6f"):format(s.costUsd))
  end
  if s.problem then
    table.insert(lines, "  problem  " .. s.problem)
  end
  return lines
end

--- :FreescodeStatus
function M.show()
  local chunks = {}
  for i, line in ipairs(M.describe()) do
    table.insert(chunks, { (i > 1 and "\n" or "") .. line })
  end
  vim.api.nvim_echo(chunks, true, {})
end

--- LspProgress autocmd callback: remember freescode's progress tokens and echo them.
function M.on_progress(ev)
  local data = ev.data or {}
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if not client or client.name ~= "freescode" then
    return
  end
  local params = data.params or {}
  local progress = type(params.value) == "table" and params.value or {}
  local tokens = M.running[client.id] or {}
  M.running[client.id] = tokens
  if progress.kind == "begin" then
    tokens[params.token] = progress.title or "Free-S_Code"
  elseif progress.kind == "end" then
    tokens[params.token] = nil
  end
  if require("freescode").options.progress then
    local title = progress.title or tokens[params.token] or "Free-S_Code"
    local message = value(progress.message)
    local text = message and ("%s: %s"):format(title, message) or title
    vim.api.nvim_echo({ { "freescode: " .. text } }, false, {})
  end
end

--- Ask the server to cancel every freescode task that shows progress (:FreescodeCancel).
function M.cancel()
  local count = 0
  for client_id, tokens in pairs(M.running) do
    local client = vim.lsp.get_client_by_id(client_id)
    for token in pairs(tokens) do
      if client then
        client:notify("window/workDoneProgress/cancel", { token = token })
        count = count + 1
      end
      tokens[token] = nil
    end
  end
  if count == 0 then
    vim.notify("freescode: no task is running", vim.log.levels.INFO)
  end
  return count
end

return M
