"""Adapters between pygls and the features: documents as the server sees them, unreadable messages."""
