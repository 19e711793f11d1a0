"""A test-only switch: the fast test run sets FREESCODE_TEST_NO_MODELS, and loading a llama.cpp model then fails.

The variable names a file (the test harness gives each test its own): the refusal is written there as well, so
the test fails even when the caller catches the error and falls back to another model.
"""

from __future__ import annotations

import os

from freescode_lsp.engines.base import ModelLoadError

NO_MODELS_ENV = "FREESCODE_TEST_NO_MODELS"


def refuse_in_fast_tests(model: str) -> None:
    """Under the fast test run, note the attempt in the test's report file and raise ModelLoadError; else nothing."""
    report = os.environ.get(NO_MODELS_ENV)
    if not report:
        return
    message = f"this test loads a real model ({model}): mark it slow"
    if os.path.isabs(report):
        with open(report, "a", encoding="utf-8") as file:
            file.write(message + "\n")
    raise ModelLoadError(message)
