-- Ex commands and autocmds of Free-S_Code; the modules load on first use.
-- The server itself starts once require("freescode").setup() (or vim.lsp.enable("freescode")) ran.
if vim.g.loaded_freescode then
  return
end
vim.g.loaded_freescode = true

local TASKS = {
  FreescodeFix = { "fix", "Fix the code unit under the cursor, or the selected lines" },
  FreescodeDebug = { "debug", "Find bugs in the code unit or the selected lines (shown as diagnostics)" },
  FreescodeClean = { "clean", "Clean up the code unit or the selected lines" },
  FreescodeRefactor = { "refactor", "Refactor the code unit or the selected lines" },
  FreescodeExplain = { "analyze", "Explain the code unit or the selected lines in a floating window" },
}

for name, spec in pairs(TASKS) do
  vim.api.nvim_create_user_command(name, function(opts)
    local tasks = require("freescode.tasks")
    tasks.run(spec[1], tasks.command_range(opts))
  end, { range = true, desc = spec[2] })
end

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
