"""Tasks: what to ask a model for each user action, and how to read its answer."""
