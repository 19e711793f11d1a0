"""Inline completion as a task: the `complete` request at a cursor (window, stops, deadline) and its stop rule."""
