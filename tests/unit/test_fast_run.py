"""The fast run (`make check`): no test that loads a real model or runs a real editor gets into it unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import GenerationRequest, ModelLoadError
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.engines.local.fast_tests import NO_MODELS_ENV, refuse_in_fast_tests
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog
from freescode_lsp.testing.answers import collect

REPO = Path(__file__).resolve().parents[2]
FAST = "not slow and not code_model and not editor"


def test_a_test_module_of_model_fixtures_and_one_of_a_real_editor_are_left_out_of_the_fast_run() -> None:
    """Their tests carry no marker of their own: the markers come from the gemma_path fixture and the folder."""
    files = ["tests/models/test_local_engine.py", "tests/editors/test_emacs.py"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", FAST, *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, collected.stdout[-3000:] + collected.stderr[-2000:]
    assert " deselected" in collected.stdout, collected.stdout[-3000:]


async def test_under_the_fast_run_a_model_is_refused_before_its_trial_and_the_refusal_written_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused before the trial run, so no verdict is kept that would hide the next test that loads it."""
    attempts = tmp_path / "attempts.txt"
    monkeypatch.setenv(NO_MODELS_ENV, str(attempts))
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    settings = settings_from_dict({"models": {"mine": {"gguf": str(gguf), "context": 512}}}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    try:
        with pytest.raises(ModelLoadError, match=r"this test loads a real model \(mine\): mark it slow"):
            await collect(engine.stream(GenerationRequest("mine", prompt="x = ", max_tokens=1)))
        assert engine.probe.runs == 0 and engine.probe.known(gguf) is None
    finally:
        await engine.aclose()
    assert attempts.read_text(encoding="utf-8") == "this test loads a real model (mine): mark it slow\n"


def test_outside_the_fast_run_the_switch_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_MODELS_ENV, raising=False)
    refuse_in_fast_tests(DEFAULT_MODEL)
