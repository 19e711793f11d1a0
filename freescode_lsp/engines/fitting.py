"""Cut a prompt to fit a model's window, keeping the code nearest the target."""

from __future__ import annotations

from collections.abc import Callable

from freescode_lsp.engines.base import CONTEXT_PLACEHOLDER, SurroundingCode

TokenCounter = Callable[[str], int]


def surrounding_window(code: SurroundingCode, radius: int) -> str:
    """The lines within `radius` of the target, with the target itself replaced by its marker."""
    start = max(0, code.target_start - radius)
    end = min(len(code.lines), code.target_end + radius)
    before = list(code.lines[start : code.target_start])
    after = list(code.lines[code.target_end : end])
    return "\n".join([*before, code.marker, *after])


def fit_text(
    template: str,
    surrounding: SurroundingCode | None,
    count_tokens: TokenCounter,
    limit: int,
    keep_tail: Callable[[str, int], str],
) -> str:
    """Fill the placeholder with the widest window that fits `limit` tokens, else cut from the front."""
    if CONTEXT_PLACEHOLDER not in template:
        return template if count_tokens(template) <= limit else keep_tail(template, limit)
    if surrounding is None:
        bare = template.replace(CONTEXT_PLACEHOLDER, "")
        return bare if count_tokens(bare) <= limit else keep_tail(bare, limit)

    def render(radius: int) -> str:
        return template.replace(CONTEXT_PLACEHOLDER, surrounding_window(surrounding, radius))

    widest = max(surrounding.target_start, len(surrounding.lines) - surrounding.target_end)
    if count_tokens(render(widest)) <= limit:
        return render(widest)
    if count_tokens(render(0)) > limit:
        bare = template.replace(CONTEXT_PLACEHOLDER, "")
        return bare if count_tokens(bare) <= limit else keep_tail(bare, limit)
    low, high = 0, widest
    while high - low > 1:
        middle = (low + high) // 2
        if count_tokens(render(middle)) <= limit:
            low = middle
        else:
            high = middle
    return render(low)
