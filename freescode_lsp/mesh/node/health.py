"""What a node gateway knows of its engine without asking it for every /health: the child process and the last answer."""

from __future__ import annotations

import time

from freescode_lsp.mesh.node.engine import ManagedEngine

CHECK_INTERVAL_S = 10.0


class EngineWatch:
    """The engine's state as the gateway last saw it: when it last answered, and why it did not since."""

    def __init__(self, engine: ManagedEngine | None) -> None:
        self.engine = engine
        self.answered_at: float | None = None
        self.failure: str | None = "the engine has not been asked yet"

    def answered(self) -> None:
        """The engine answered a request (any status under 500)."""
        self.answered_at = time.monotonic()
        self.failure = None

    def failed(self, why: str) -> None:
        """The engine could not be reached, or answered with a server error."""
        self.failure = why

    def problem(self) -> str | None:
        """Why the engine is unavailable now, None while it is fine."""
        if self.engine is not None and not self.engine.alive():
            code = self.engine.process.returncode if self.engine.process is not None else None
            return f"the engine process exited with code {code}"
        return self.failure

    def seconds_since_answer(self) -> float | None:
        """How long ago the engine last answered, None if it never did."""
        return None if self.answered_at is None else time.monotonic() - self.answered_at

    def due(self) -> bool:
        """Whether the engine should be asked: it has not answered for a whole check interval."""
        since = self.seconds_since_answer()
        return since is None or since >= CHECK_INTERVAL_S
