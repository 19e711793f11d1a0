"""Token healing for inline completion: the prompt stops before the last token of the code before the cursor, and the
model writes that text again, held to what was typed, so the suggestion goes on from the token the model would have
chosen (`indent_inc` + `rement=2`) rather than from where the typed text happened to split (`_inc` + `=2`)."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any

from attrs import frozen

from freescode_lsp.completion.anchors import common_length

if TYPE_CHECKING:
    import numpy as np  # imported where used: numpy's BLAS starts threads, and the package must import without any

ENABLED = True
TAIL_CHARS = 64
TOP_K = 64
MAX_STEPS = 4


@frozen
class Healed:
    """The prompt's tokens with the model's own tokens for the held-back text appended, and what they wrote past it."""

    tokens: list[int]
    overshoot: str


def split(llama: Any, prefix: str) -> tuple[str, str]:
    """The prefix without its last token, and that token's text ("" when there is nothing to heal)."""
    if not ENABLED or not prefix or prefix[-1].isspace():
        return prefix, ""
    tokens = llama.tokenize(prefix[-TAIL_CHARS:].encode("utf-8"), add_bos=False, special=False)
    if len(tokens) < 2:
        return prefix, ""
    try:
        last = llama.detokenize(tokens[-1:]).decode("utf-8")
    except UnicodeDecodeError:
        return prefix, ""
    if not last.strip() or not prefix.endswith(last):
        return prefix, ""
    return prefix[: -len(last)], last


def _last_logits(llama: Any, tokens: list[int]) -> np.ndarray:
    """The model's logits after the tokens, evaluating only what its cache does not hold."""
    import numpy as np

    llama.n_tokens = min(common_length(llama.input_ids[: llama.n_tokens].tolist(), tokens), len(tokens) - 1)
    llama.eval(tokens[llama.n_tokens :])
    # The last token's logits from the context: eval keeps none without logits_all.
    pointer = llama._ctx.get_logits_ith(-1)
    return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)), shape=(llama.n_vocab(),))


def _best_fitting(llama: Any, logits: np.ndarray, remaining: bytes) -> tuple[int, bytes] | None:
    """Among the model's TOP_K tokens, the likeliest that spells the start of `remaining` or all of it and more."""
    import numpy as np

    top = np.argpartition(logits, -TOP_K)[-TOP_K:]
    for token in top[np.argsort(logits[top])[::-1]]:
        piece = llama.detokenize([int(token)])
        if piece and (piece.startswith(remaining) or remaining.startswith(piece)):
            return int(token), piece
    return None


def heal(llama: Any, prompt_tokens: list[int], held_back: str) -> Healed:
    """Let the model write `held_back` again after the prompt, token by token within what it spells; the plain
    tokens of `held_back` when the model's likeliest tokens never fit."""
    target = held_back.encode("utf-8")
    tokens, written = list(prompt_tokens), b""
    for _ in range(MAX_STEPS):
        if len(written) >= len(target):
            break
        chosen = _best_fitting(llama, _last_logits(llama, tokens), target[len(written) :])
        if chosen is None:
            break
        tokens.append(chosen[0])
        written += chosen[1]
    if len(written) < len(target):
        plain = llama.tokenize(target, add_bos=False, special=False)
        return Healed(list(prompt_tokens) + list(plain), "")
    return Healed(tokens, written[len(target) :].decode("utf-8", errors="ignore"))
