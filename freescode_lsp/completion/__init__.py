"""Inline completion, one vertical in three layers.

- Here, the pure rules: fill-in-the-middle formats, the window around the cursor, the time budget and where the
  prompt starts, stop rules, suffix dedupe, typing-through, definitions from other files.
- `task/`: the `complete` task's request at a cursor (window, stops, deadline) and its stop rule.
- `editor/`: the LSP feature (debounce, supersede, typing-through, ghost text), the other open files' definitions,
  and filling the lane's cache while the user pauses.

The engines render a request they are given, so their side stays with them: the local lane's budgeted FIM prompt
and cache filling in `engines/local/completion.py` and `engines/local/prefill.py`, the remote FIM body in
`engines/remote/completion.py`.
"""
