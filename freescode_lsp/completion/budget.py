"""Time, not tokens: a model's measured prompt speed on this machine, and how many new prompt tokens fit a budget.

Laptop peers budget time (llama.vim gives the prompt 500 ms and generation 1 s): a suggestion that comes after
three seconds is worse than none. The speed is measured from the model's own evaluations and follows the machine
as it gets busier or quieter (a moving average).
"""

from __future__ import annotations

from attrs import define

PROMPT_BUDGET_S = 0.5
GENERATION_BUDGET_S = 1.0
SMOOTHING = 0.3
MIN_NEW_TOKENS = 48  # below this a prompt holds too little code to be right
BATCH_S = 0.1
MIN_BATCH = 16


@define
class Speed:
    """Prompt tokens a model evaluates per second here, a moving average of what it did; None until measured."""

    tokens_per_s: float | None = None

    def observe(self, tokens: int, seconds: float) -> None:
        """Take one measured evaluation of `tokens` tokens in `seconds`."""
        if tokens <= 0 or seconds <= 0:
            return
        rate = tokens / seconds
        known = self.tokens_per_s
        self.tokens_per_s = rate if known is None else SMOOTHING * rate + (1 - SMOOTHING) * known

    def tokens_within(self, seconds: float) -> int | None:
        """New prompt tokens that fit in `seconds` (at least MIN_NEW_TOKENS), or None before any measurement."""
        if self.tokens_per_s is None:
            return None
        return max(MIN_NEW_TOKENS, int(self.tokens_per_s * seconds))

    def batch(self) -> int:
        """Tokens per batch of background work, so that a waiting request waits at most about BATCH_S for it."""
        if self.tokens_per_s is None:
            return MIN_BATCH
        return max(MIN_BATCH, int(self.tokens_per_s * BATCH_S))
