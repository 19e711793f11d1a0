"""What the client knows about each host: speed (EWMA), requests in flight, cooldown after failures."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import TypeVar

from attrs import define, field

EWMA_WEIGHT = 0.3
FIRST_COOLDOWN_S = 3.0
MAX_COOLDOWN_S = 300.0
NEAR_BEST = 1.25
T = TypeVar("T")


@define
class HostStats:
    """Running measurements of one host."""

    ttft_s: float | None = None
    seconds_per_token: float | None = None
    in_flight: int = 0
    failures: int = 0
    cooldown_until: float = 0.0
    last_error: str | None = None

    def cooling(self, now: float | None = None) -> bool:
        """Whether the host is resting after a failure."""
        return (now if now is not None else time.monotonic()) < self.cooldown_until


def _ewma(old: float | None, new: float) -> float:
    return new if old is None else (1 - EWMA_WEIGHT) * old + EWMA_WEIGHT * new


@define
class HostBook:
    """Stats for every host the router has used, keyed by engine name."""

    hosts: dict[str, HostStats] = field(factory=dict)

    def get(self, name: str) -> HostStats:
        """The host's stats, created empty on first sight."""
        return self.hosts.setdefault(name, HostStats())

    def started(self, name: str) -> None:
        """A request to the host began."""
        self.get(name).in_flight += 1

    def finished(self, name: str) -> None:
        """A request to the host ended, however it ended."""
        stats = self.get(name)
        stats.in_flight = max(0, stats.in_flight - 1)

    def observe(self, name: str, ttft_s: float | None, seconds: float, tokens: int) -> None:
        """A successful answer: fold its speed into the averages and forgive past failures."""
        stats = self.get(name)
        if ttft_s is not None:
            stats.ttft_s = _ewma(stats.ttft_s, ttft_s)
        if tokens > 1 and ttft_s is not None and seconds > ttft_s:
            stats.seconds_per_token = _ewma(stats.seconds_per_token, (seconds - ttft_s) / (tokens - 1))
        stats.failures = 0

    def failed(self, name: str, error: str, cool_down: bool, rest_s: float | None = None) -> None:
        """A failure; with `cool_down`, rest the host for `rest_s` or an exponentially growing time."""
        stats = self.get(name)
        stats.failures += 1
        stats.last_error = error
        if cool_down:
            backoff = FIRST_COOLDOWN_S * 2 ** min(stats.failures - 1, 16)
            rest = min(MAX_COOLDOWN_S, rest_s if rest_s is not None else backoff)
            stats.cooldown_until = time.monotonic() + rest

    def score(self, name: str, price_per_1k: float, expected_tokens: int) -> float:
        """Estimated seconds to answer, plus queueing and a price term; lower is better."""
        stats = self.get(name)
        ttft = stats.ttft_s if stats.ttft_s is not None else 0.5
        per_token = stats.seconds_per_token if stats.seconds_per_token is not None else 0.05
        seconds = ttft + per_token * expected_tokens
        return seconds * (1 + stats.in_flight) + price_per_1k * 1000


def order_near_best(items: Sequence[T], scores: Sequence[float], rng: random.Random | None = None) -> list[T]:
    """Sort by score, shuffling those within NEAR_BEST of the best so new hosts get tried."""
    if not items:
        return []
    ranked = sorted(zip(scores, range(len(items)), items, strict=True), key=lambda row: row[:2])
    best = ranked[0][0]
    near = [item for score, _, item in ranked if score <= best * NEAR_BEST + 1e-9]
    rest = [item for score, _, item in ranked if score > best * NEAR_BEST + 1e-9]
    (rng or random).shuffle(near)
    return near + rest
