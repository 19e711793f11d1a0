"""Heartbeats stored in batches (write_batches.py): one statement and one commit serve the many that arrive together.

A heartbeat for a node the replica's listing already holds, from its owner, is answered at once and stored
with the next batch (as the peers that keep leases for many nodes do: a renewal is not worth a wait for the
disk). Every other one, and every one while the store fails or the batches fall behind, waits for its write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from attrs import evolve

from freescode_lsp.mesh.registry.records import Heartbeat, Node
from freescode_lsp.mesh.registry.write_batches import MAX_BATCH, WriteBatcher

Beat = tuple[str, str, Heartbeat, float]
WriteBeats = Callable[[Sequence[Beat]], dict[str, Node]]
MAX_UNWRITTEN = 2 * MAX_BATCH


def _node_id(beat: Beat) -> str:
    return beat[0]


def renewed(node: Node, beat: Heartbeat, now: float) -> Node:
    """A node as a heartbeat leaves it: heard from now, with the metrics the beat sent (the others kept)."""
    return evolve(
        node,
        last_seen=now,
        load=node.load if beat.load is None else beat.load,
        ttft_ms=node.ttft_ms if beat.ttft_ms is None else beat.ttft_ms,
        tokens_per_s=node.tokens_per_s if beat.tokens_per_s is None else beat.tokens_per_s,
    )


def with_beat_of(node: Node, later: Node) -> Node:
    """A node with the heartbeat fields (last seen, load, speed) of a later copy of it; the rest, its own."""
    return evolve(node, last_seen=later.last_seen, load=later.load, ttft_ms=later.ttft_ms, tokens_per_s=later.tokens_per_s)


class HeartbeatBatcher(WriteBatcher[Beat, Node]):
    """Writes heartbeats through `write` (the store's, in a worker thread), one batch at a time, one per node in each."""

    def __init__(self, write: WriteBeats, max_batch: int = MAX_BATCH) -> None:
        super().__init__(write, _node_id, max_batch)

    async def beat(self, node_id: str, owner: str, beat: Heartbeat, now: float) -> Node | None:
        """Store one heartbeat: the node renewed, or None when it is unknown or not `owner`'s."""
        return await self.submit((node_id, owner, beat, now))

    def beat_early(self, known: Node, beat: Heartbeat, now: float, missing: Callable[[str], None]) -> Node | None:
        """Renew a node known to exist, from its owner, without waiting for the write; None when it must wait.

        `missing(node_id)` is called when the write finds the node gone (deleted meanwhile, or taken over).
        """
        if self.failing or self.waiting >= MAX_UNWRITTEN:
            return None
        written = self.submit_later((known.node_id, known.owner, beat, now))
        written.add_done_callback(lambda answer: _check_written(answer, known.node_id, missing))
        return renewed(known, beat, now)


def _check_written(answer: asyncio.Future[Node | None], node_id: str, missing: Callable[[str], None]) -> None:
    """After an early answer's write: tell `missing` when the node was not there; a failed write only marks the batcher."""
    if answer.cancelled() or answer.exception() is not None:
        return
    if answer.result() is None:
        missing(node_id)
