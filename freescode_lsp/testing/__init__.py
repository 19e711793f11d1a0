"""Test support: an emulated editor, a stub node, node and registry processes, hostile inputs."""
