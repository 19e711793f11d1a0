"""What a loaded llama.cpp model costs in memory: weights, KV cache, compute buffers and workspace."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from attrs import frozen

from freescode_lsp.models.gguf_header import GGUFHeaderError, read_metadata

MIB = 1024**2
DEFAULT_BATCH = 512
KV_BYTES_PER_VALUE = 2
ACTIVATION_BYTES = 4
CONTEXT_OVERHEAD = 64 * MIB
UNKNOWN_SHAPE_SHARE = 0.25


@frozen
class ModelShape:
    """The sizes from a model's header that set its memory beyond the weights."""

    layers: int
    heads: int
    kv_heads: int
    key_length: int
    value_length: int
    feed_forward: int


@frozen
class Footprint:
    """One model's memory for one window: weights plus what its context adds."""

    weights: int
    context: int
    workspace: int

    @property
    def total(self) -> int:
        """Bytes to count against the memory budget."""
        return self.weights + self.context + self.workspace


def read_shape(path: Path) -> ModelShape | None:
    """The model's shape from its GGUF header, or None when the header lacks it."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _cached_shape(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _cached_shape(path: str, size: int, mtime_ns: int) -> ModelShape | None:
    try:
        metadata = read_metadata(Path(path))
    except (OSError, GGUFHeaderError):
        return None
    arch = metadata.get("general.architecture")

    def number(key: str, default: int | None = None) -> int | None:
        value = metadata.get(f"{arch}.{key}", default)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default

    layers, heads, width = number("block_count"), number("attention.head_count"), number("embedding_length")
    if layers is None or heads is None or width is None:
        return None
    head_size = width // heads
    return ModelShape(
        layers=layers,
        heads=heads,
        kv_heads=number("attention.head_count_kv", heads) or heads,
        key_length=number("attention.key_length", head_size) or head_size,
        value_length=number("attention.value_length", head_size) or head_size,
        feed_forward=number("feed_forward_length", 4 * width) or 4 * width,
    )


def kv_cache_bytes(shape: ModelShape, n_ctx: int) -> int:
    """The f16 KV cache of every layer over the full window (llama.cpp keeps sliding-window layers full size)."""
    return n_ctx * shape.layers * shape.kv_heads * (shape.key_length + shape.value_length) * KV_BYTES_PER_VALUE


def workspace_bytes(shape: ModelShape, n_ctx: int, n_batch: int) -> int:
    """Activations one prompt batch touches: attention scores and softmax over the window, feed-forward rows."""
    per_token = 2 * shape.heads * n_ctx + 6 * shape.feed_forward
    return n_batch * per_token * ACTIVATION_BYTES


def predict(path: Path, n_ctx: int, n_batch: int) -> Footprint:
    """The footprint expected before loading, from the file size and its header."""
    weights = path.stat().st_size
    shape = read_shape(path)
    if shape is None:
        return Footprint(weights, CONTEXT_OVERHEAD + int(weights * UNKNOWN_SHAPE_SHARE), CONTEXT_OVERHEAD)
    return Footprint(weights, CONTEXT_OVERHEAD + kv_cache_bytes(shape, n_ctx), workspace_bytes(shape, n_ctx, n_batch))


def measured(predicted: Footprint, load_growth: int | None) -> Footprint:
    """The prediction, its context part raised to what the load really added to resident memory if that is more.

    The growth can read low (memory freed earlier by the process is reused), never the forecast's floor.
    """
    if load_growth is None or load_growth <= predicted.context:
        return predicted
    return Footprint(predicted.weights, load_growth, predicted.workspace)


def human_bytes(size: float) -> str:
    """A byte count as MiB below a GiB, else GiB."""
    return f"{size / MIB:.0f} MiB" if size < 1024 * MIB else f"{size / 1024**3:.1f} GiB"


def resident_anonymous_bytes() -> int | None:
    """This process's resident anonymous memory (heap and buffers, not mapped files), where the OS tells it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
