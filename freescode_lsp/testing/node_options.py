"""Settings an editor sends to put the tasks' models on one test node, remote only, diagnostics off unless asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The model each task is routed to by default.
ROUTED_MODELS = (
    "code-llama-7b",
    "wizardcoder-13b",
    "mistral-7b",
    "wizardcoder-python-34b",
    "starcoder2-15b",
    "deepseek-coder-6.7b",
)
# Those, and two that tests route a task to by hand.
NODE_MODELS = (*ROUTED_MODELS, "deepseek-coder-33b", "starcoder-15b")


def node_options(url: str, models: Sequence[str] = NODE_MODELS, price: float = 0.0, **server: object) -> dict[str, Any]:
    """Initialization options naming one node that serves `models`; `server` keys override the [server] section."""
    return {
        "nodes": [{"url": url, "models": list(models), "price_per_1k": price}],
        "network": {"mode": "remote-only"},
        "server": {"diagnostics_enabled": False, **server},
    }
