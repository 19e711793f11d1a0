"""What both ends of the OpenAI-compatible wire share: base URLs, rough token counts, line caps, SSE."""

from __future__ import annotations

import math

MAX_LINE_BYTES = 1024 * 1024


def normalize_base_url(url: str) -> str:
    """The node's API base, ending in `/v1`, whether or not the URL had it or a trailing slash."""
    base = url.strip().rstrip("/")
    if base.endswith("/v1"):
        return base
    return f"{base}/v1"


def approx_tokens(text: str) -> int:
    """A rough token count: four characters a token, rounded up."""
    return math.ceil(len(text) / 4)
