"""Fill-in-the-middle prompts: each family's markers, instruct models without FIM, a model's own GGUF tokens."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from freescode_lsp.completion import prompt
from freescode_lsp.completion.formats import family_format
from freescode_lsp.completion.gguf_fim import fim_format_of

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(1, 2))\n"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("starcoder2-3b", f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"),
        ("starcoder-15b", f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"),
        ("deepseek-coder-1.3b", f"<｜fim▁begin｜>{PREFIX}<｜fim▁hole｜>{SUFFIX}<｜fim▁end｜>"),
        ("code-llama-7b", f"<PRE> {PREFIX} <SUF>{SUFFIX} <MID>"),
        ("qwen2.5-coder-1.5b", f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"),
    ],
)
def test_each_family_wraps_prefix_and_suffix_in_its_own_markers(model: str, expected: str) -> None:
    assert prompt.render(PREFIX, SUFFIX, family_format(model)) == expected


@pytest.mark.parametrize("model", ["gemma-3-270m", "mistral-7b", "wizardcoder-13b"])
def test_a_model_without_fim_gets_the_prefix_alone(model: str) -> None:
    assert family_format(model) is None
    assert prompt.render(PREFIX, SUFFIX, None) == PREFIX


def test_deepseek_instruct_weights_have_no_fim_but_the_base_ones_do() -> None:
    assert family_format("deepseek-coder-6.7b", "deepseek-coder-6.7b-instruct.Q4_K_M.gguf") is None
    assert family_format("deepseek-coder-1.3b", "deepseek-coder-1.3b-base.Q4_K_M.gguf") is not None


def test_code_cannot_smuggle_in_the_markers() -> None:
    fim = family_format("starcoder2-3b")
    assert fim is not None
    rendered = prompt.render("x = '<fim_middle>'", "<|endoftext|>y", fim)
    assert rendered == "<fim_prefix>x = ''<fim_suffix>y<fim_middle>"


def test_the_stops_are_the_requests_then_the_formats() -> None:
    fim = family_format("qwen2.5-coder-1.5b")
    assert prompt.stops(fim, ["\n"])[:2] == ["\n", "<|endoftext|>"]
    assert prompt.stops(None, ["\n"]) == ["\n"]


def test_a_prompt_too_long_for_the_window_is_cut_at_lines_keeping_the_cursor_side() -> None:
    prefix = "".join(f"line_{n} = {n}\n" for n in range(200)) + "total = "
    suffix = "".join(f"after_{n}()\n" for n in range(200))
    fim = family_format("starcoder2-3b")
    text = prompt.fitted(prefix, suffix, fim, lambda t: len(t) <= 600)
    assert len(text) <= 600
    inner_prefix = text.removeprefix("<fim_prefix>").split("<fim_suffix>")[0]
    inner_suffix = text.split("<fim_suffix>")[1].removesuffix("<fim_middle>")
    assert inner_prefix.endswith("line_199 = 199\ntotal = ") and inner_prefix.startswith("line_")
    assert inner_suffix.startswith("after_0()\n") and inner_suffix.endswith("\n")
    assert len(inner_prefix) > len(inner_suffix)


def _string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def tiny_gguf(path: Path, scalars: dict[str, int], tokens: list[str]) -> Path:
    """A GGUF file with no tensors: uint32 metadata, a string key, and a vocabulary."""
    entries = [_string("general.architecture") + struct.pack("<I", 8) + _string("llama")]
    entries += [_string(key) + struct.pack("<I", 4) + struct.pack("<I", value) for key, value in scalars.items()]
    vocab = b"".join(_string(token) for token in tokens)
    entries.append(_string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(tokens)) + vocab)
    entries.append(_string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, len(tokens)) + b"\0" * 4 * len(tokens))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries))
    return path


def test_the_gguf_metadata_names_the_fim_tokens(tmp_path: Path) -> None:
    tokens = ["<unk>", "<s>", "</s>", "a", "b", "<|fim_begin|>", "<|fim_hole|>", "<|fim_end|>", "<|eot|>"]
    ids = {"tokenizer.ggml.fim_pre_token_id": 5, "tokenizer.ggml.fim_suf_token_id": 6, "tokenizer.ggml.fim_mid_token_id": 7}
    path = tiny_gguf(tmp_path / "own.gguf", {**ids, "tokenizer.ggml.eot_token_id": 8}, tokens)
    fim = fim_format_of(path)
    assert fim is not None and fim.family == "gguf"
    assert prompt.render("p", "s", fim) == "<|fim_begin|>p<|fim_hole|>s<|fim_end|>"
    assert "<|eot|>" in fim.stops


def test_older_gguf_keys_and_known_markers_give_the_family(tmp_path: Path) -> None:
    tokens = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "x"]
    ids = {"tokenizer.ggml.prefix_token_id": 1, "tokenizer.ggml.suffix_token_id": 3, "tokenizer.ggml.middle_token_id": 2}
    fim = fim_format_of(tiny_gguf(tmp_path / "old.gguf", ids, tokens))
    assert fim is not None and fim.family == "starcoder"
    assert prompt.render("p", "s", fim) == "<fim_prefix>p<fim_suffix>s<fim_middle>"


def test_a_gguf_without_fim_tokens_or_with_ids_past_its_vocabulary_has_no_format(tmp_path: Path) -> None:
    assert fim_format_of(tiny_gguf(tmp_path / "none.gguf", {"tokenizer.ggml.eos_token_id": 2}, ["a", "b", "c"])) is None
    ids = {"tokenizer.ggml.fim_pre_token_id": 1, "tokenizer.ggml.fim_suf_token_id": 2, "tokenizer.ggml.fim_mid_token_id": 90}
    assert fim_format_of(tiny_gguf(tmp_path / "short.gguf", ids, ["a", "b", "c"])) is None
    assert fim_format_of(tmp_path / "missing.gguf") is None


def test_the_embedded_model_has_no_fim_tokens(gemma_path: Path) -> None:
    assert fim_format_of(gemma_path) is None
