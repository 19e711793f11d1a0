"""Completions on the local engine: a lane of their own, and the model's FIM prompt built where its file is.

The lane is a second LocalEngine with its own pool: its own Llama object per model (the weights are mapped
from the same file, so only the KV cache and buffers are new), its own thread and its own KV cache. Both pools
draw on one `[local] memory_budget_gb`, and either unloads the other's idle models to make room. A
completion never waits behind a rewrite or a hover on the same model, nor makes them wait.

The prompt is sized by time: its part the KV cache does not hold yet must fit the prompt budget at the speed
this model evaluates prompts here. The cache holds the text above the cursor (filled while the user pauses, see
`prefill.py`), so the prompt starts where the cached one starts and a keystroke pays only for what changed; when
the cache holds nothing of use, a smaller prompt that fits the budget is used instead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from attrs import define, evolve, field

from freescode_lsp.completion import anchors, prompt
from freescode_lsp.completion.budget import PROMPT_BUDGET_S, Speed
from freescode_lsp.completion.formats import FimFormat, family_format
from freescode_lsp.completion.gguf_fim import fim_format_of
from freescode_lsp.config.values import ContextTokens
from freescode_lsp.engines.base import GenerationRequest
from freescode_lsp.engines.local import healing
from freescode_lsp.engines.local.kept_state import KeptState, keep, put_back
from freescode_lsp.models.catalog import ModelSpec

if TYPE_CHECKING:
    from freescode_lsp.engines.local.engine import LocalEngine

LANE_CONTEXT = 4096
CALIBRATION_TOKENS = 48
WARM_UP_TOKENS = 8
MIN_TIMED_TOKENS = 8
MIN_KEPT_TOKENS = 64  # a fill smaller than this is cheaper to redo than to copy


@define
class LaneNote:
    """What a lane's model object knows: its prompt speed here, the probe of the code its cache starts with, the
    new (uncached) tokens of its last prompt, whether its cache holds a fill cut short, that fill set aside while a
    stop-gap prompt runs, and the text its last prompt held back for the model to write again (token healing)."""

    speed: Speed = field(factory=Speed)
    probe: str = ""
    new_tokens: int = 0
    partial_fill: bool = False
    kept: KeptState | None = None
    kept_probe: str = ""
    held_back: str = ""


_NOTES: WeakKeyDictionary[Any, LaneNote] = WeakKeyDictionary()


def note_of(llama: Any) -> LaneNote:
    """The note kept for one Llama object, made on first use."""
    note = _NOTES.get(llama)
    if note is None:
        note = _NOTES[llama] = LaneNote()
    return note


def lane_for(engine: LocalEngine) -> LocalEngine:
    """The engine's completion lane, made on first use: the same engine class with a window no larger than
    completions need, sharing the main engine's memory budget, trial-run verdicts and warnings. A lane is its
    own lane."""
    if engine.lane is None:
        settings = evolve(engine.settings, max_context=ContextTokens(min(engine.settings.max_context, LANE_CONTEXT)))
        lane = type(engine)(engine.catalog, settings)
        lane.pool.share_budget_with(engine.pool)
        lane.probe = engine.probe
        lane.warn = lambda message: engine.warn(message)
        lane.lane = lane
        engine.lane = lane
    engine.lane.catalog = engine.catalog
    return engine.lane


def fim_for(path: Path | None, spec: ModelSpec) -> FimFormat | None:
    """The model file's FIM tokens when its metadata names them, else its family's format, else None."""
    found = fim_format_of(path) if path is not None else None
    return found or family_format(spec.id, spec.hf_file)


def fim_of(llama: Any, spec: ModelSpec) -> FimFormat | None:
    """The FIM format of a loaded model."""
    model_path = getattr(llama, "model_path", None)
    return fim_for(Path(model_path) if model_path else None, spec)


def head_of(prefix: str, fim: FimFormat | None) -> str:
    """The start of every prompt with this prefix: what the cache can hold before the cursor."""
    return fim.prefix + fim.clean(prefix) if fim is not None else prefix


def body_of(text: str, fim: FimFormat | None) -> str:
    """The code before the cursor in a prompt, without the format's markers."""
    if fim is None:
        return text
    return text.removeprefix(fim.prefix).partition(fim.suffix)[0]


def tokens_of(llama: Any, text: str) -> list[int]:
    """The prompt's tokens as llama-cpp-python makes them for a completion."""
    return list(llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))


def cached_tokens(llama: Any) -> list[int]:
    """The tokens the model's KV cache holds."""
    return list(llama.input_ids[: llama.n_tokens])


def evaluate(llama: Any, tokens: list[int], note: LaneNote) -> None:
    """Evaluate tokens after what the cache holds, timing them into the model's speed."""
    start = time.perf_counter()
    llama.eval(tokens)
    note.speed.observe(len(tokens), time.perf_counter() - start)


def calibrate(llama: Any, note: LaneNote, head: str) -> None:
    """Measure the prompt speed on the first tokens of the prompt's head (work the prompt needs anyway); the first
    few warm the model up untimed."""
    tokens = tokens_of(llama, head)[: WARM_UP_TOKENS + CALIBRATION_TOKENS]
    held = anchors.common_length(cached_tokens(llama), tokens)
    if len(tokens) - max(held, WARM_UP_TOKENS) < MIN_TIMED_TOKENS:
        return
    llama.n_tokens = held
    if held < WARM_UP_TOKENS:
        llama.eval(tokens[held:WARM_UP_TOKENS])
    evaluate(llama, tokens[llama.n_tokens :], note)


def render_infill(llama: Any, spec: ModelSpec, request: GenerationRequest, context_size: int) -> tuple[str, list[str]]:
    """The FIM (or prefix-only) prompt whose uncached part fits the prompt's time budget, and the format's stops."""
    assert request.infill is not None
    fim = fim_of(llama, spec)
    note = note_of(llama)
    prefix, suffix = request.infill.prefix, request.infill.suffix
    note.held_back = ""
    if not request.continuation:
        prefix, note.held_back = healing.split(llama, prefix)
    limit = max(16, context_size - request.max_tokens)
    if note.speed.tokens_per_s is None:
        calibrate(llama, note, head_of(prefix[anchors.warm_start(prefix, note.probe) :], fim))
    budget = note.speed.tokens_within(PROMPT_BUDGET_S) or limit
    cached = cached_tokens(llama)
    counted: dict[str, int] = {}

    def new_tokens(text: str) -> int:
        if text not in counted:
            tokens = tokens_of(llama, text)
            counted[text] = len(tokens) - anchors.common_length(cached, tokens) if len(tokens) <= limit else 2 * limit
        return counted[text]

    candidates = [prompt.render(prefix[start:], suffix, fim) for start in anchors.starts(prefix, note.probe)]
    text = anchors.cheapest_within(candidates, new_tokens, budget) or prompt.fitted(
        prefix, suffix, fim, lambda t: new_tokens(t) <= budget, keep_suffix=True
    )
    note.new_tokens = new_tokens(text)
    set_aside_a_partial_fill(llama, note, len(cached) - anchors.common_length(cached, tokens_of(llama, text)))
    note.probe = anchors.probe_of(body_of(text, fim))
    return text + request.continuation, prompt.stops(fim, request.stop)


def healed_prompt(llama: Any, text: str, stats: dict[str, Any]) -> tuple[str | list[int], str]:
    """What to run for a rendered completion prompt: its tokens with the held-back text written again by the model
    (counted in the run's tokens), and what the model wrote past that text (the suggestion's start); the text itself
    when nothing was held back."""
    held_back = note_of(llama).held_back
    if not held_back:
        return text, ""
    prompt_tokens = tokens_of(llama, text)
    healed = healing.heal(llama, prompt_tokens, held_back)
    stats["tokens"] += len(healed.tokens) - len(prompt_tokens)
    return healed.tokens, healed.overshoot


def set_aside_a_partial_fill(llama: Any, note: LaneNote, lost_tokens: int) -> None:
    """Keep a fill cut short that this prompt would overwrite (it goes back after the run); a prompt that builds on
    the fill finishes it."""
    note.kept = None
    if not note.partial_fill:
        return
    if lost_tokens < MIN_KEPT_TOKENS:
        note.partial_fill = False
        return
    note.kept, note.kept_probe = keep(llama), note.probe


def observe_run(llama: Any, stats: dict[str, Any]) -> None:
    """After a completion: its time to the first token into the model's speed, a fill set aside put back, and its
    new prompt tokens and the tokens in the cache at its end into the run's stats."""
    note = note_of(llama)
    stats["context_tokens"] = llama.n_tokens
    first = stats.get("first_token_s")
    if first and note.new_tokens >= MIN_TIMED_TOKENS:
        note.speed.observe(note.new_tokens + 1, first)
    if note.kept is not None:
        if put_back(llama, note.kept):
            note.probe = note.kept_probe
        else:
            note.partial_fill = False
        note.kept = None
    stats["new_tokens"] = note.new_tokens
