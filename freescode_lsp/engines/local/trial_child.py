"""The model probe's child process: load a model file, render its chat template, generate a few tokens.

Prints one JSON line per stage reached, then the outcome, so the parent knows where a native crash
happened. Run as `python -m freescode_lsp.engines.local.trial_child FILE THREADS`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from freescode_lsp.engines.local.fast_tests import refuse_in_fast_tests
from freescode_lsp.errors import FreescodeError

PROBE_CONTEXT = 512
PROBE_BATCH = 64
PROBE_TOKENS = 4
RENDER_TIMEOUT_S = 10.0
TEST_SIGNAL_ENV = "FREESCODE_TEST_PROBE_SIGNAL"
SAMPLE = [{"role": "user", "content": "Fix this function:\ndef add(a, b):\n    return a - b"}]


class TemplateTimeout(FreescodeError):
    """The chat template ran past its time."""


def say(**fields: Any) -> None:
    """One line of progress for the parent."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def render_sample(llama: Any) -> str:
    """The sample conversation through the model's chat template, stopped after RENDER_TIMEOUT_S."""
    from freescode_lsp.engines.local.templates import chat_template

    def expire(signum: int, frame: Any) -> None:
        raise TemplateTimeout(f"its chat template did not finish in {RENDER_TIMEOUT_S:g} s")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, RENDER_TIMEOUT_S)
    try:
        template = chat_template(llama)
        return template(SAMPLE) if template is not None else SAMPLE[0]["content"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def die_for_tests(path: str) -> None:
    """Let tests make this child die by a signal after loading: FREESCODE_TEST_PROBE_SIGNAL=SIGSEGV[:part of a file name]."""
    name, _, only = os.environ.get(TEST_SIGNAL_ENV, "").partition(":")
    if name and only in os.path.basename(path):
        os.kill(os.getpid(), signal.Signals[name])


def main(argv: list[str]) -> int:
    """Probe the file named on the command line; exit 0 when it loads and answers."""
    path, threads = argv[1], int(argv[2])
    stage = "load"
    try:
        say(stage=stage)
        refuse_in_fast_tests(path)
        from llama_cpp import Llama

        llama = Llama(model_path=path, n_ctx=PROBE_CONTEXT, n_batch=PROBE_BATCH, n_threads=threads, verbose=False)
        die_for_tests(path)
        stage = "chat template"
        say(stage=stage)
        prompt = render_sample(llama)
        stage = "generate"
        say(stage=stage)
        llama.create_completion(prompt, max_tokens=PROBE_TOKENS, temperature=0.0)
    except Exception as exc:  # noqa: BLE001 - every failure is the verdict
        say(ok=False, stage=stage, error=f"{type(exc).__name__}: {exc}"[:500])
        return 2
    say(ok=True, stage="done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
