"""Inline completion: fill-in-the-middle prompts, the window around the cursor, stop rules and typing-through."""
