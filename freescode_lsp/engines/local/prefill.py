"""Filling a completion lane's KV cache with the text above the cursor before a suggestion needs it.

Run while the user pauses (a document opened, a change made, a suggestion shown): the next request then pays only
for what changed. The work runs on the model's own thread a small batch at a time and gives way as soon as a
request is queued behind it, so a request waits at most one small batch for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from freescode_lsp.completion import anchors
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local.completion import (
    cached_tokens,
    evaluate,
    fim_of,
    head_of,
    lane_for,
    note_of,
    tokens_of,
)
from freescode_lsp.models.catalog import ModelSpec

if TYPE_CHECKING:
    from freescode_lsp.engines.local.engine import LocalEngine

ROOM_TOKENS = 256  # left in the window for the suffix and the suggestion
MIN_WORTH_TOKENS = 8  # fewer new tokens than this: the last prompt's suffix and suggestion stay in the cache


def warm(llama: Any, spec: ModelSpec, request: GenerationRequest, context_size: int, stop: Callable[[], bool]) -> int:
    """Model-thread body: evaluate the prompt's head (the code up to the cursor) into the KV cache, a batch at a time,
    until it is all there or `stop` says to give way; the tokens evaluated."""
    assert request.infill is not None
    note = note_of(llama)
    prefix = request.infill.prefix
    body = prefix[anchors.warm_start(prefix, note.probe) :]
    head = head_of(body, fim_of(llama, spec))
    tokens = tokens_of(llama, head)[: max(16, context_size - request.max_tokens - ROOM_TOKENS)]
    done = anchors.common_length(cached_tokens(llama), tokens)
    if len(tokens) - done < MIN_WORTH_TOKENS or stop():
        return 0
    llama.n_tokens = done
    note.probe = anchors.probe_of(body)
    evaluated = 0
    while done < len(tokens) and not stop():
        batch = tokens[done : done + note.speed.batch()]
        evaluate(llama, batch, note)
        done += len(batch)
        evaluated += len(batch)
    note.partial_fill = done < len(tokens)
    return evaluated


async def prefill(engine: LocalEngine, request: GenerationRequest) -> int:
    """Fill the completion lane's cache for this request's cursor, giving way to any request; tokens evaluated.

    Only a model the lane has loaded already is filled (a document opening loads nothing). Cancelling it stops
    the work within a batch."""
    lane = lane_for(engine)
    spec = lane.catalog.get(request.model)
    path = lane.pool.path_of(request.model)
    if spec is None or path is None:
        return 0
    model = await lane.pool.acquire(request.model, path)
    stopped = threading.Event()

    def give_way() -> bool:
        return stopped.is_set() or model.executor.waiting()

    try:
        work = model.executor.submit(warm, model.llama, spec, request, lane.context_size(spec.id), give_way)
        try:
            return int(await asyncio.shield(asyncio.wrap_future(work)))
        except asyncio.CancelledError:
            stopped.set()
            await asyncio.wait([asyncio.wrap_future(work)])
            raise
    finally:
        lane.pool.release(model)
