"""Token healing on real models: the prompt stops before the last token typed, and the model writes it again."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")

from llama_cpp import Llama

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest, Infill
from freescode_lsp.engines.local import healing
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.models.catalog import CODE_MODEL, build_catalog
from freescode_lsp.testing.answers import collect

TYPED = [
    "import re\npattern = re.compile(r'\\s+', re.VERB",
    "def load(path):\n    with open(path) as handle:\n        return handle.rea",
    "values = [1, 2, 3]\ntotal = sum(val",
    "name = 'caf\u00e9'.upp",
]


@pytest.fixture(scope="module")
def gemma(gemma_path: Path) -> Llama:
    return Llama(str(gemma_path), n_ctx=512, n_threads=2, verbose=False)


@pytest.mark.parametrize("typed", TYPED)
def test_the_held_back_text_is_written_again_exactly(gemma: Llama, typed: str) -> None:
    head, held_back = healing.split(gemma, typed)
    assert held_back and head + held_back == typed
    prompt = list(gemma.tokenize(head.encode(), add_bos=True, special=False))
    healed = healing.heal(gemma, prompt, held_back)
    assert healed.tokens[: len(prompt)] == prompt
    written = gemma.detokenize(healed.tokens[len(prompt) :], prev_tokens=prompt).decode("utf-8")
    assert written == held_back + healed.overshoot


def test_nothing_is_held_back_after_a_space_or_when_turned_off(gemma: Llama, monkeypatch: pytest.MonkeyPatch) -> None:
    assert healing.split(gemma, "return ") == ("return ", "")
    assert healing.split(gemma, "x = 1\n") == ("x = 1\n", "")
    monkeypatch.setattr(healing, "ENABLED", False)
    assert healing.split(gemma, "handle.rea") == ("handle.rea", "")


@pytest.mark.code_model
async def test_a_word_typed_halfway_is_finished_from_the_models_own_token(code_model: Path) -> None:
    settings = settings_from_dict({"local": {"max_context": 1024, "threads": 2}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    request = GenerationRequest(
        CODE_MODEL, max_tokens=8, temperature=0, stop=["\n"], infill=Infill(TYPED[0], ")\nprint(pattern)\n")
    )
    try:
        chunks = await collect(engine.stream(request))
    finally:
        await engine.aclose()
    suggestion = "".join(chunk.text for chunk in chunks)
    assert suggestion.startswith("OSE"), suggestion
