"""Fault campaigns against the real server, router and registry, all on loopback."""
