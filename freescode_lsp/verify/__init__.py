"""Verified fixes: run the user's own check on a candidate in a scratch copy of the workspace, and retry on failure."""
