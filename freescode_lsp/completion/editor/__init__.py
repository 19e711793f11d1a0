"""Inline completion as the editor sees it: the feature (debounce, supersede, typing-through, ghost text), the
definitions it reads from other open files, and the filling of the lane's cache while the user pauses."""
