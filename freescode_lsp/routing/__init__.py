"""Routing: task -> model -> candidates (local engine, nodes), failover across them, and the usage ledger."""
