"""A model file's own FIM format, from the FIM token ids in its GGUF metadata and the texts in its vocabulary."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from freescode_lsp.completion.formats import FimFormat, from_token_texts
from freescode_lsp.models.gguf_header import GGUFHeaderError, read_array_strings, read_metadata

VOCAB_KEY = "tokenizer.ggml.tokens"
FIM_KEYS = (
    ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"),
    ("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"),
    ("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"),
)
END_KEYS = (
    "tokenizer.ggml.eot_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.fim_pad_token_id",
    "tokenizer.ggml.fim_sep_token_id",
)


def fim_format_of(path: Path) -> FimFormat | None:
    """The file's FIM format, or None when its metadata names no FIM tokens (or it cannot be read)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _cached(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=32)
def _cached(path: Path, mtime_ns: int, size: int) -> FimFormat | None:
    try:
        metadata = read_metadata(path)
        ids = [_token_id(metadata, keys) for keys in FIM_KEYS]
        if any(token is None for token in ids):
            return None
        ends = [token for key in END_KEYS if (token := _token_id(metadata, (key,))) is not None]
        texts = read_array_strings(path, VOCAB_KEY, {*(t for t in ids if t is not None), *ends})
    except (OSError, GGUFHeaderError, ValueError):
        return None
    fim = [texts.get(token) for token in ids if token is not None]
    if any(not text for text in fim):
        return None
    stops = tuple(dict.fromkeys(texts[token] for token in ends if texts.get(token)))
    prefix, suffix, middle = (text or "" for text in fim)
    return from_token_texts(prefix, suffix, middle, stops)


def _token_id(metadata: Mapping[str, object], keys: tuple[str, ...]) -> int | None:
    """The first of `keys` holding a real token id (llama.cpp writes -1 or leaves it out for none)."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return None
