"""Heartbeats stored in batches (write_batches.py): one statement and one commit serve the many that arrive together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from freescode_lsp.mesh.registry.records import Heartbeat, Node
from freescode_lsp.mesh.registry.write_batches import MAX_BATCH, WriteBatcher

Beat = tuple[str, str, Heartbeat, float]
WriteBeats = Callable[[Sequence[Beat]], dict[str, Node]]


def _node_id(beat: Beat) -> str:
    return beat[0]


class HeartbeatBatcher(WriteBatcher[Beat, Node]):
    """Writes heartbeats through `write` (the store's, in a worker thread), one batch at a time, one per node in each."""

    def __init__(self, write: WriteBeats, max_batch: int = MAX_BATCH) -> None:
        super().__init__(write, _node_id, max_batch)

    async def beat(self, node_id: str, owner: str, beat: Heartbeat, now: float) -> Node | None:
        """Store one heartbeat: the node renewed, or None when it is unknown or not `owner`'s."""
        return await self.submit((node_id, owner, beat, now))
