"""Cached API responses on disk."""

import json


def load_cached(text):
    """Return the cached JSON object in text, or an empty dict when the cache is empty or corrupt."""
    if not text.strip():
        return {}
    data = json.loads(text)
    return data if isinstance(data, dict) else {}
