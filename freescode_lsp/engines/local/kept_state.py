"""A model's KV cache set aside while a quick prompt uses it, and put back after: a half-done fill of the text above
the cursor survives the stop-gap suggestions the user asks for meanwhile.

Only the one sequence llama-cpp-python uses is copied (its keys and values, not the logits), through llama.cpp's
sequence state calls; a copy of a thousand tokens of a 1.5B model is some tens of megabytes, copied in milliseconds.
"""

from __future__ import annotations

import ctypes
from typing import Any

from attrs import define

SEQUENCE = 0


@define(frozen=True)
class KeptState:
    """The tokens a KV cache held and its sequence's state."""

    tokens: list[int]
    data: Any
    size: int


def keep(llama: Any) -> KeptState | None:
    """The cache's state now, or None when llama.cpp cannot copy it."""
    import llama_cpp

    context = llama._ctx.ctx
    size = int(llama_cpp.llama_state_seq_get_size(context, SEQUENCE))
    if size <= 0:
        return None
    data = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_seq_get_data(context, data, size, SEQUENCE))
    if written <= 0:
        return None
    return KeptState(list(llama.input_ids[: llama.n_tokens]), data, written)


def put_back(llama: Any, kept: KeptState) -> bool:
    """Make the cache hold the kept state again; False (and an empty cache) when llama.cpp refused it."""
    import llama_cpp

    llama._ctx.kv_cache_seq_rm(SEQUENCE, 0, -1)
    llama.n_tokens = 0
    llama._requires_eval = True
    if int(llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, kept.data, kept.size, SEQUENCE)) <= 0:
        return False
    llama.input_ids[: len(kept.tokens)] = kept.tokens
    llama.n_tokens = len(kept.tokens)
    return True
