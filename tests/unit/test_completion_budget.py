"""The prompt sized by time: the measured speed, the cached start kept while typing, the new part cut to the budget,
and the cache filled a batch at a time, giving way to a request."""

from __future__ import annotations

from typing import Any

import pytest

from freescode_lsp.completion import anchors
from freescode_lsp.completion.budget import MIN_NEW_TOKENS, Speed
from freescode_lsp.engines.base import GenerationRequest, Infill
from freescode_lsp.engines.local import completion, healing, prefill
from freescode_lsp.models.catalog import CODE_MODEL, ModelSpec, build_catalog

CODE = "".join(f"def function_number_{n:03d}(value):\n    return value + {n}\n\n\n" for n in range(60))


class ByteLlama:
    """A Llama stand-in whose tokens are the prompt's bytes (after a BOS of 1) and whose KV cache is a list."""

    model_path = None

    def __init__(self) -> None:
        self.input_ids: list[int] = []
        self.n_tokens = 0
        self.evaluations: list[int] = []

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = True) -> list[int]:
        return ([1] if add_bos else []) + list(text)

    def eval(self, tokens: list[int]) -> None:
        self.input_ids = self.input_ids[: self.n_tokens] + list(tokens)
        self.n_tokens = len(self.input_ids)
        self.evaluations.append(len(tokens))

    def hold(self, text: str) -> None:
        """Make the cache hold this text's tokens, as after a prompt."""
        self.n_tokens = 0
        self.eval(self.tokenize(text.encode()))
        self.evaluations.clear()


@pytest.fixture(autouse=True)
def no_healing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte tokens have no token boundaries to heal; these tests are about the prompt's budget."""
    monkeypatch.setattr(healing, "ENABLED", False)


@pytest.fixture
def spec() -> ModelSpec:
    return build_catalog()[CODE_MODEL]


def request(prefix: str, suffix: str = "\n\n") -> GenerationRequest:
    return GenerationRequest(CODE_MODEL, prompt=prefix, max_tokens=32, infill=Infill(prefix, suffix))


def llama_at(speed: float) -> ByteLlama:
    llama = ByteLlama()
    completion.note_of(llama).speed.tokens_per_s = speed
    return llama


def test_the_speed_is_a_moving_average_and_sets_the_budget() -> None:
    speed = Speed()
    assert speed.tokens_within(0.5) is None
    speed.observe(100, 1.0)
    assert speed.tokens_within(0.5) == 50
    speed.observe(300, 1.0)
    assert 100 < (speed.tokens_per_s or 0) < 300
    assert Speed(10.0).tokens_within(0.5) == MIN_NEW_TOKENS
    speed.observe(0, 0.0)
    assert Speed(1000.0).batch() == 100 and Speed().batch() > 0


def test_the_cheapest_start_within_the_budget_wins() -> None:
    costs = {"whole": 900, "cached": 12, "small": 40}
    assert anchors.cheapest_within(["whole", "cached", "small"], costs.__getitem__, 50) == "cached"
    assert anchors.cheapest_within(["whole"], costs.__getitem__, 50) is None
    assert anchors.common_length([1, 2, 3, 9], [1, 2, 3, 4, 5]) == 3


def test_the_cached_start_is_kept_while_its_window_is_large() -> None:
    prefix = CODE
    middle = prefix.index("def function_number_030")
    probe = anchors.probe_of(prefix[middle:])
    assert anchors.starts(prefix, probe) == [middle, 0]
    assert anchors.warm_start(prefix, probe) == middle
    near_the_end = anchors.probe_of(prefix[-200:])
    assert anchors.warm_start(prefix, near_the_end) == 0
    assert anchors.warm_start(prefix, "not in the code") == 0


def test_without_a_cache_the_prompt_shrinks_to_the_budget(spec: ModelSpec) -> None:
    llama = llama_at(200.0)
    text, _ = completion.render_infill(llama, spec, request(CODE + "def next_one("), 4096)
    assert text.startswith("<|fim_prefix|>") and text.endswith("def next_one(<|fim_suffix|>\n\n<|fim_middle|>")
    assert len(llama.tokenize(text.encode())) <= 100
    assert completion.note_of(llama).new_tokens <= 100


def test_a_cached_head_is_used_whole_and_costs_only_what_changed(spec: ModelSpec) -> None:
    llama = llama_at(200.0)
    typed = CODE + "def next_one("
    llama.hold("<|fim_prefix|>" + CODE + "def next")
    text, _ = completion.render_infill(llama, spec, request(typed), 4096)
    assert text == f"<|fim_prefix|>{typed}<|fim_suffix|>\n\n<|fim_middle|>"
    assert completion.note_of(llama).new_tokens == len("_one(<|fim_suffix|>\n\n<|fim_middle|>")


def test_a_cached_stop_gap_start_is_kept_while_typing(spec: ModelSpec) -> None:
    llama = llama_at(200.0)
    first, _ = completion.render_infill(llama, spec, request(CODE + "def next_one("), 4096)
    llama.hold(first)
    second, _ = completion.render_infill(llama, spec, request(CODE + "def next_one(v"), 4096)
    assert second.startswith(first.split("<|fim_suffix|>")[0]) and len(second) == len(first) + 1


def test_the_cache_is_filled_in_batches_and_gives_way(spec: ModelSpec) -> None:
    llama = llama_at(300.0)
    asked = request(CODE + "def next_one(")
    calls = iter([False, False, True])  # asked once before the work, then before each batch
    batch = completion.note_of(llama).speed.batch()
    evaluated = prefill.warm(llama, spec, asked, 4096, lambda: next(calls, True))
    assert evaluated == batch == llama.evaluations[0] and len(llama.evaluations) == 1
    rest = prefill.warm(llama, spec, asked, 4096, lambda: False)
    head = "<|fim_prefix|>" + CODE + "def next_one("
    assert rest == len(head) + 1 - batch and llama.input_ids == llama.tokenize(head.encode())


def test_a_cache_that_holds_the_head_keeps_the_last_suggestion(spec: ModelSpec) -> None:
    llama = llama_at(300.0)
    typed = CODE + "def next_one("
    shown = f"<|fim_prefix|>{typed}<|fim_suffix|>\n\n<|fim_middle|>value):"
    llama.hold(shown)
    assert prefill.warm(llama, spec, request(typed), 4096, lambda: False) == 0
    assert llama.n_tokens == len(shown) + 1


def test_the_fill_starts_at_the_windows_start_after_a_stop_gap(spec: ModelSpec) -> None:
    llama = llama_at(300.0)
    asked = request(CODE + "def next_one(")
    first, _ = completion.render_infill(llama, spec, asked, 4096)
    assert not first.startswith("<|fim_prefix|>def function_number_000")
    llama.hold(first)
    prefill.warm(llama, spec, asked, 4096, lambda: False)
    assert llama.input_ids == llama.tokenize(("<|fim_prefix|>" + CODE + "def next_one(").encode())


def test_measured_time_feeds_the_speed(spec: ModelSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    llama = ByteLlama()
    note = completion.note_of(llama)
    note.new_tokens = 99
    stats: dict[str, Any] = {"first_token_s": 1.0}
    completion.observe_run(llama, stats)
    assert stats["new_tokens"] == 99 and note.speed.tokens_per_s == 100.0
