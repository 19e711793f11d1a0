-- Ex commands and autocmds of Free-S_Code; the modules load on first use (only the list of task commands loads now).
-- The server itself starts once require("freescode").setup() (or vim.lsp.enable("freescode")) ran.
if vim.g.loaded_freescode then
  return
end
vim.g.loaded_freescode = true

for _, spec in ipairs(require("freescode.task_commands")) do
  vim.api.nvim_create_user_command(spec.name, function(opts)
    local tasks = require("freescode.tasks")
    tasks.run(spec.task, tasks.command_range(opts))
  end, { range = true, desc = spec.desc })
end

vim.api.nvim_create_user_command("FreescodeFixVerify", function(opts)
  local tasks = require("freescode.tasks")
  tasks.fix_verified(tasks.command_range(opts))
end, { range = true, desc = "Fix, checking each candidate with the project's tests first; apply only one that passed" })

vim.api.nvim_create_user_command("FreescodeStatus", function()
  require("freescode.status").show()
end, { desc = "Show the last Free-S_Code task: model, engine, tokens, time, cost" })

vim.api.nvim_create_user_command("FreescodeUsage", function()
  require("freescode.tasks").usage()
end, { desc = "Show `freescode usage`: tokens and cost per model" })

vim.api.nvim_create_user_command("FreescodeCancel", function()
  require("freescode.status").cancel()
end, { desc = "Cancel the running Free-S_Code tasks" })

local group = vim.api.nvim_create_augroup("freescode", { clear = true })

vim.api.nvim_create_autocmd("LspProgress", {
  group = group,
  desc = "Free-S_Code: echo task progress",
  callback = function(ev)
    require("freescode.status").on_progress(ev)
  end,
})

vim.api.nvim_create_autocmd("LspAttach", {
  group = group,
  desc = "Free-S_Code: ghost text as you type (Neovim 0.12+)",
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == "freescode" then
      require("freescode.completion").on_attach(ev.buf)
    end
  end,
})
