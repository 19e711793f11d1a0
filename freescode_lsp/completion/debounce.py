"""How long a request waits before it starts the model: the configured debounce, stretched while the user types.

A fixed debounce shorter than the gap between keystrokes starts a generation per key. So the wait is at least
`debounce_ms` and, while keystrokes come at a steady pace, about twice the usual gap between them (never more
than MAX_WAIT_S): a burst of typing starts one generation, at the pause.
"""

from __future__ import annotations

from attrs import define

TYPING_GAP_S = 1.0
MAX_WAIT_S = 0.5
GAP_FACTOR = 2.0
SMOOTHING = 0.5


@define
class Debounce:
    """The keystroke rhythm of one document."""

    last_at: float | None = None
    usual_gap: float | None = None

    def wait(self, now: float, least_s: float) -> float:
        """Seconds to wait for a request arriving `now`; records the gap since the last one."""
        if self.last_at is not None:
            gap = now - self.last_at
            if 0 <= gap < TYPING_GAP_S:
                self.usual_gap = gap if self.usual_gap is None else SMOOTHING * gap + (1 - SMOOTHING) * self.usual_gap
            else:
                self.usual_gap = None
        self.last_at = now
        if least_s <= 0 or self.usual_gap is None:
            return max(least_s, 0.0)
        return max(least_s, min(GAP_FACTOR * self.usual_gap, MAX_WAIT_S))
