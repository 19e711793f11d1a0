"""Inline completion's pure rules: fill-in-the-middle formats, the window around the cursor, the time budget and
where the prompt starts, stop rules, typing-through.

The rest of the vertical sits in the layer that runs it: the `complete` task's request in `tasks/completion.py`,
the local lane's budgeted FIM prompt in `engines/local/completion.py` and its cache filling in
`engines/local/prefill.py`, the remote FIM body in `engines/remote/completion.py`, and the LSP feature (debounce,
supersede, typing-through, ghost text, filling the cache while the user pauses) in `lsp/features/inline_completion.py`
and `lsp/features/completion_prefill.py`.
"""
