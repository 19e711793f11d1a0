"""Inline completion's pure rules: fill-in-the-middle formats, the window around the cursor, stop rules, typing-through.

The rest of the vertical sits in the layer that runs it: the `complete` task's request in `tasks/completion.py`,
the local lane's FIM rendering in `engines/local/completion.py`, the remote FIM body in `engines/remote/completion.py`,
and the LSP feature (debounce, supersede, typing-through, ghost text) in `lsp/features/inline_completion.py`.
"""
