"""The server's messages keep their own stdout: native code that prints to fd 1, or silences it, cannot touch them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Writes numbered messages on the protocol channel while another thread does `quiet_work`; prints what it sent.
SCRIPT = """
import os, sys, threading
from freescode_lsp.lsp.server import protocol_channel

channel = protocol_channel()
done = threading.Event()

def work():
    try:
{work}
    finally:
        done.set()

threading.Thread(target=work).start()
sent = 0
while not done.is_set() or sent < 10:
    channel.write(b"message %d\\n" % sent)
    channel.flush()
    sent += 1
print("sent", sent, file=sys.stderr)
"""


def run(work: str) -> tuple[list[str], str]:
    """Run SCRIPT with `work` in its thread; the lines on stdout and all of stderr."""
    script = SCRIPT.format(work=textwrap.indent(textwrap.dedent(work), " " * 8))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.splitlines(), done.stderr


def sent_count(stderr: str) -> int:
    """How many messages the script says it sent."""
    return int(stderr.rsplit("sent ", 1)[1].split()[0])


def test_a_library_silencing_stdout_drops_no_message() -> None:
    """llama-cpp-python points fd 1 at /dev/null while it loads a model; messages sent meanwhile still arrive."""
    lines, stderr = run(
        """
        null = os.open(os.devnull, os.O_WRONLY)
        saved = os.dup(1)
        os.dup2(null, 1)
        import time; time.sleep(0.3)
        os.write(1, b"native noise\\n")
        os.dup2(saved, 1)
        """
    )
    assert lines == [f"message {n}" for n in range(sent_count(stderr))]


def test_native_prints_go_to_stderr_not_into_the_protocol() -> None:
    """Whatever else writes to fd 1 lands on stderr, where the editor logs it, never between two messages."""
    lines, stderr = run('os.write(1, b"native noise\\n")')
    assert "native noise" in stderr
    assert lines == [f"message {n}" for n in range(sent_count(stderr))]


@pytest.mark.slow
def test_messages_sent_while_the_real_model_loads_all_arrive(gemma_path: Path) -> None:
    """The real case: messages written while llama.cpp loads the embedded model (verbose off) all reach the editor."""
    lines, stderr = run(
        f"""
        from llama_cpp import Llama
        Llama(model_path={str(gemma_path)!r}, n_ctx=256, verbose=False).close()
        """
    )
    assert lines == [f"message {n}" for n in range(sent_count(stderr))]
