-- Lets `vim.lsp.enable("freescode")` work without setup(): the config for the current options.
return require("freescode").lsp_config()
