"""Where the prompt's prefix starts: where the model's cache of the text above the cursor starts, while that start
is still in the window, so that a keystroke only extends the cached prompt; else the window's own start.

The cache is known by a probe: the first characters of the code it holds. A start close to the cursor (a quick
prompt made when the cache held nothing useful) is a stop-gap: given time, the window's start replaces it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

PROBE_CHARS = 160
MIN_WINDOW_CHARS = 1024
MAX_PLACES = 4


def probe_of(body: str) -> str:
    """The probe that finds this code's start again in a later, longer text: its start, within the lines above the
    cursor's (the cursor's own line changes as the user types)."""
    return body[: min(PROBE_CHARS, body.rfind("\n") + 1)]


def cached_start(prefix: str, probe: str) -> int | None:
    """Where the cached code starts in `prefix`, or None when it does not start there."""
    if not probe:
        return None
    found = prefix.find(probe)
    return found if found >= 0 else None


def warm_start(prefix: str, probe: str) -> int:
    """The start the cache should hold: the cached one while its window is large enough (or is all of `prefix`),
    else the window's own start."""
    found = cached_start(prefix, probe)
    if found is not None and (found == 0 or len(prefix) - found >= MIN_WINDOW_CHARS):
        return found
    return 0


def starts(prefix: str, probe: str) -> list[int]:
    """The starts to try: each place the cached code may start (a probe can repeat), then the window's own."""
    found: list[int] = []
    at = prefix.find(probe) if probe else -1
    while at >= 0 and len(found) < MAX_PLACES:
        found.append(at)
        at = prefix.find(probe, at + 1)
    return [*found, 0] if 0 not in found else found


def common_length(cached: Sequence[int], tokens: Sequence[int]) -> int:
    """How many tokens at the start of `tokens` the cache already holds."""
    size = 0
    for held, wanted in zip(cached, tokens, strict=False):
        if held != wanted:
            break
        size += 1
    return size


def cheapest_within(candidates: Sequence[str], new_tokens: Callable[[str], int], budget: int) -> str | None:
    """The candidate prompt with the fewest new (uncached) tokens, the first of equals, if it fits in the budget."""
    if not candidates:
        return None
    best = min(candidates, key=new_tokens)
    return best if new_tokens(best) <= budget else None
