"""What the attempts of one request cost: each attempt made into a ledger row, recorded, and summed."""

from __future__ import annotations

import logging

from attrs import define, field

from freescode_lsp.engines.base import GenerationRequest, Usage
from freescode_lsp.routing.metering import Attempt, Ledger, Outcome

log = logging.getLogger(__name__)


def estimate_tokens(request: GenerationRequest) -> int:
    """A rough prompt size in tokens: four characters each."""
    chars = sum(len(m.content) for m in request.messages) or len(request.prompt or "")
    return chars // 4 + 1


@define
class Tab:
    """The attempts of one request as the ledger recorded them; `usd` is what they cost together."""

    ledger: Ledger | None
    task: str | None = None
    attempts: list[Attempt] = field(factory=list)

    @property
    def usd(self) -> float:
        """Dollars charged for every attempt so far."""
        return sum(attempt.cost_usd for attempt in self.attempts)

    def charge(
        self,
        host: str,
        model: str,
        price_per_1k: float,
        request: GenerationRequest,
        usage: Usage | None,
        pieces: int,
        outcome: Outcome,
        error: str | None = None,
    ) -> Attempt | None:
        """Record one attempt (its usage, else an estimate) and add it to the tab; None when it cannot be."""
        note = usage.note() if usage is not None else None
        if note:
            log.warning("%s: %s", host, note)
        try:
            attempt = Attempt(
                task=self.task,
                model=model,
                host=host,
                prompt_tokens=usage.prompt_tokens if usage is not None else estimate_tokens(request),
                completion_tokens=usage.completion_tokens if usage is not None else pieces,
                price_per_1k=price_per_1k,
                outcome=outcome,
                error="; ".join(part for part in (error, note) if part) or None,
            )
        except (TypeError, ValueError) as exc:
            log.warning("usage ledger: cannot record an attempt on %s: %s", host, exc)
            return None
        self.attempts.append(attempt)
        self._record(attempt)
        return attempt

    def _record(self, attempt: Attempt) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(attempt)
        except Exception as exc:  # noqa: BLE001 - metering must never break a request
            log.warning("usage ledger: %s", exc)
