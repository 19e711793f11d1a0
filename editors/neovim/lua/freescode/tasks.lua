-- The :Freescode* commands: run freescode.runTask (or freescode.fixVerified) on the cursor's code unit or a line range.
local M = {}

local COMMAND = "freescode.runTask"
M.FIX_VERIFIED = "freescode.fixVerified"

--- JSON null (vim.NIL) as nil.
local function value(x)
  if x == vim.NIL then
    return nil
  end
  return x
end

--- The runTask arguments (0-based lines). No range: the unit around the cursor; a range
--- { line1, line2 } (1-based, inclusive): those whole lines, sent as [line, endLine) with endCharacter 0;
--- a range with `unit = true`: the unit around line1.
function M.task_args(bufnr, task, range)
  local args = {
    uri = vim.uri_from_bufnr(bufnr),
    task = task,
    version = vim.lsp.util.buf_versions[bufnr],
  }
  if range and not range.unit then
    args.line, args.endLine, args.endCharacter = range[1] - 1, range[2], 0
  else
    local row = range and range[1] - 1 or vim.api.nvim_win_get_cursor(0)[1] - 1
    args.line, args.endLine, args.endCharacter = row, row, 0
  end
  return args
end

--- The range a user command was given: nil without one, or for a single line number (`:12FreescodeFix`
--- works on the unit around line 12, as the cursor would).
function M.command_range(opts)
  if opts.range == 2 then
    return { opts.line1, opts.line2 }
  end
  if opts.range == 1 then
    return { opts.line1, opts.line1, unit = true }
  end
  return nil
end

--- Show an explanation in a floating window.
function M.show_explanation(result)
  local lines = { ("**Free-S_Code** · %s"):format(value(result.model) or "?"), "" }
  vim.list_extend(lines, vim.split(result.markdown, "\n", { plain = true, trimempty = true }))
  return vim.lsp.util.open_floating_preview(lines, "markdown", {
    border = "rounded",
    focus_id = "freescode_explain",
    max_width = math.max(40, math.floor(vim.o.columns * 0.8)),
  })
end

--- Report a finished task. The server already shows its own message when a task fails.
local function finish(task, command, bufnr, err, result)
  result = result or {}
  if err then
    vim.notify(("freescode: %s failed: %s"):format(task, err.message or vim.inspect(err)), vim.log.levels.ERROR)
  elseif task == "analyze" then
    if type(value(result.markdown)) == "string" then
      M.show_explanation(result)
    end
  elseif result.applied or task == "debug" then
    if value(result.message) then
      vim.notify("freescode: " .. result.message, vim.log.levels.INFO)
    end
  end
  vim.api.nvim_exec_autocmds("User", {
    pattern = "FreescodeTaskDone",
    modeline = false,
    data = {
      task = task,
      command = command,
      bufnr = bufnr,
      error = err and (err.message or vim.inspect(err)),
      result = result,
    },
  })
end

--- Run a task; `range` as in task_args; `command` is freescode.runTask unless given (M.FIX_VERIFIED takes the
--- same arguments). Returns false when no freescode client is attached.
function M.run(task, range, on_done, command)
  command = command or COMMAND
  local bufnr = vim.api.nvim_get_current_buf()
  local client = require("freescode").client(bufnr)
  if not client then
    local message = "freescode: freescode-lsp is not attached to this buffer (see :checkhealth freescode)"
    vim.notify(message, vim.log.levels.ERROR)
    return false
  end
  local args = M.task_args(bufnr, task, range)
  -- Passing bufnr makes the client send pending didChange first, so the server sees the text we see.
  client:request("workspace/executeCommand", { command = command, arguments = { args } }, function(err, result)
    finish(task, command, bufnr, err, result)
    if on_done then
      on_done(err, result)
    end
  end, bufnr)
  return true
end

--- Fix and verify (:FreescodeFixVerify): each candidate runs the project's check in a scratch copy, and only one
--- that passed lands. Progress says which attempt runs; when none passed, the server says so and offers the best
--- candidate as the code action "Apply best unverified candidate".
function M.fix_verified(range, on_done)
  return M.run("fix", range, on_done, M.FIX_VERIFIED)
end

--- Output of `freescode usage` in a scratch window; an error is shown as it was printed.
function M.usage()
  local cmd = require("freescode").cli()
  table.insert(cmd, "usage")
  local ok, started = pcall(vim.system, cmd, { text = true }, vim.schedule_wrap(function(out)
    M.show_usage(cmd, out)
  end))
  if not ok then
    M.show_usage(cmd, { code = -1, stdout = "", stderr = tostring(started) })
  end
end

--- Show a finished `freescode usage` run; fires `User FreescodeUsage` with the run's output.
function M.show_usage(cmd, out)
  local stdout, stderr = out.stdout or "", out.stderr or ""
  if out.code ~= 0 then
    local text = vim.trim(stderr ~= "" and stderr or stdout)
    local message = ("freescode: `%s` failed (exit %d):\n%s"):format(table.concat(cmd, " "), out.code, text)
    vim.notify(message, vim.log.levels.ERROR)
  else
    local previous = vim.fn.bufnr("freescode://usage")
    if previous ~= -1 then
      pcall(vim.api.nvim_buf_delete, previous, { force = true })
    end
    vim.cmd("botright new")
    local buf = vim.api.nvim_get_current_buf()
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    vim.api.nvim_buf_set_name(buf, "freescode://usage")
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(stdout, "\n", { plain = true, trimempty = true }))
    vim.bo[buf].modifiable = false
  end
  vim.api.nvim_exec_autocmds("User", {
    pattern = "FreescodeUsage",
    modeline = false,
    data = { code = out.code, stdout = stdout, stderr = stderr },
  })
end

return M
