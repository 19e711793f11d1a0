"""What raw llama-cpp-python takes for a batch of new prompt tokens and for one generated token, at each context depth.

A token costs more the more tokens the cache already holds (attention reads them all), and a small batch of
prompt tokens costs more per token than a large one (the weights are read once per batch). So the physical limit
of a suggestion is reckoned from costs measured at its own depth and batch size, not from one speed measured on
an empty cache: `measure` fills the cache once, stopping at each depth to time a batch of BATCH tokens and
SINGLES one-token steps, and `Costs.seconds` interpolates between the depths.
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass
from typing import Any

BATCH = 32
SINGLES = 8
FILL_BATCH = 512
ROOM = BATCH + SINGLES + 8


@dataclass(frozen=True)
class DepthCost:
    """At `depth` cached tokens: seconds for one token alone, and for a batch of BATCH."""

    depth: int
    single_s: float
    batch_s: float

    def batch_of(self, count: int) -> float:
        """Seconds for a batch of `count` new tokens: linear between one token alone and a batch of BATCH."""
        if count <= 0:
            return 0.0
        return self.single_s + (count - 1) * (self.batch_s - self.single_s) / (BATCH - 1)


@dataclass(frozen=True)
class Costs:
    """Costs measured at a few depths, ascending."""

    at: tuple[DepthCost, ...]

    def cost_at(self, depth: int) -> DepthCost:
        """The costs at `depth`, interpolated linearly between the measured depths (held beyond them)."""
        depths = [cost.depth for cost in self.at]
        index = bisect.bisect_left(depths, depth)
        if index == 0:
            return self.at[0]
        if index == len(self.at):
            return self.at[-1]
        low, high = self.at[index - 1], self.at[index]
        share = (depth - low.depth) / (high.depth - low.depth)
        return DepthCost(
            depth,
            low.single_s + share * (high.single_s - low.single_s),
            low.batch_s + share * (high.batch_s - low.batch_s),
        )

    def seconds(self, depth: int, new_tokens: int, generated: int) -> float:
        """The physical limit: `new_tokens` evaluated on top of `depth` cached ones, then `generated` one at a time."""
        cost = self.cost_at(depth)
        after = self.cost_at(depth + new_tokens)
        return cost.batch_of(new_tokens) + generated * after.single_s


def measure(llama: Any, text: str, depths: tuple[int, ...]) -> Costs:
    """Fill the cache with `text`'s tokens up to each depth in turn (as deep as the text and window allow) and time
    a batch and single tokens there."""
    tokens = llama.tokenize(text.encode("utf-8"))
    deepest = min(len(tokens), llama.n_ctx()) - ROOM
    usable = sorted({min(max(0, depth), deepest) for depth in depths})
    llama.reset()
    found = []
    for depth in usable:
        while llama.n_tokens < depth:
            llama.eval(tokens[llama.n_tokens : min(depth, llama.n_tokens + FILL_BATCH)])
        start = time.perf_counter()
        llama.eval(tokens[depth : depth + BATCH])
        batch_s = time.perf_counter() - start
        llama.n_tokens = depth
        start = time.perf_counter()
        for step in range(SINGLES):
            llama.eval(tokens[depth + step : depth + step + 1])
        single_s = (time.perf_counter() - start) / SINGLES
        llama.n_tokens = depth
        found.append(DepthCost(depth, single_s, batch_s))
    llama.reset()
    return Costs(tuple(found))
