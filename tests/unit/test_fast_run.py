"""The fast run (`make check`): no test that loads a real model or runs a real editor gets into it unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.base import ModelLoadError
from freescode_lsp.engines.local.engine import LocalEngine
from freescode_lsp.engines.local.fast_tests import NO_MODELS_ENV, refuse_in_fast_tests
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog

REPO = Path(__file__).resolve().parents[2]
FAST = "not slow and not code_model and not editor"


def test_a_test_module_of_model_fixtures_and_one_of_a_real_editor_are_left_out_of_the_fast_run() -> None:
    """Their tests carry no marker of their own: the markers come from the gemma_path fixture and the folder."""
    files = ["tests/engines/test_local_engine.py", "tests/editors/test_emacs.py"]
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", FAST, *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, collected.stdout[-3000:] + collected.stderr[-2000:]
    assert " deselected" in collected.stdout, collected.stdout[-3000:]


def test_under_the_fast_run_loading_a_model_fails_and_is_written_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = tmp_path / "attempts.txt"
    monkeypatch.setenv(NO_MODELS_ENV, str(attempts))
    settings = settings_from_dict({}).settings
    engine = LocalEngine(build_catalog(settings), settings.local)
    with pytest.raises(ModelLoadError, match=f"this test loads a real model \\({DEFAULT_MODEL}\\): mark it slow"):
        engine._load(DEFAULT_MODEL, tmp_path / "model.gguf")
    assert attempts.read_text(encoding="utf-8") == f"this test loads a real model ({DEFAULT_MODEL}): mark it slow\n"


def test_outside_the_fast_run_the_switch_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NO_MODELS_ENV, raising=False)
    refuse_in_fast_tests(DEFAULT_MODEL)
