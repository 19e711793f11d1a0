"""The completion prompt for one model: its FIM format around prefix and suffix, or the prefix alone."""

from __future__ import annotations

from collections.abc import Callable

from freescode_lsp.completion import window
from freescode_lsp.completion.formats import FimFormat

SHRINK = 0.7
MIN_SHARE = 0.02


def render(prefix: str, suffix: str, fim: FimFormat | None) -> str:
    """The prompt: FIM markers around the code, or only the code before the cursor for a model without FIM."""
    return fim.render(prefix, suffix) if fim is not None else prefix


def fitted(prefix: str, suffix: str, fim: FimFormat | None, fits: Callable[[str], bool], keep_suffix: bool = False) -> str:
    """The prompt, its window shrunk (at line boundaries, 3:1 kept, or the prefix alone when `keep_suffix`) until
    `fits` accepts it."""
    prompt = render(prefix, suffix, fim)
    share = 1.0
    while not fits(prompt) and share > MIN_SHARE:
        share *= SHRINK
        cut = window.cut(prefix, suffix, int(len(prefix) * share), len(suffix) if keep_suffix else int(len(suffix) * share))
        prompt = render(cut.prefix, cut.suffix, fim)
    return prompt


def stops(fim: FimFormat | None, asked: list[str]) -> list[str]:
    """The request's own stop texts and those that end the format's answers."""
    return list(dict.fromkeys([*asked, *(fim.stops if fim is not None else ())]))
