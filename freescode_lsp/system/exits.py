"""What a child process's exit status means, in words: llama.cpp's crashes name their likely cause."""

from __future__ import annotations

import signal

SIGNAL_MEANING = {
    "SIGILL": "an illegal instruction: this llama.cpp build uses a CPU feature this machine cannot run",
    "SIGSEGV": "a segmentation fault",
    "SIGBUS": "a bus error: the file is truncated or changed while it was read",
    "SIGABRT": "an abort from a failed llama.cpp check: the file is damaged or not supported",
    "SIGFPE": "an arithmetic fault",
    "SIGKILL": "killed, most likely for lack of memory",
}


def signal_name(number: int) -> str:
    """SIGSEGV for 11, and so on; `signal N` for a number the platform does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def describe_exit(returncode: int | None) -> str:
    """`crashed with SIGABRT (an abort ...)` for a signal, `exit status 1` otherwise."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        name = signal_name(-returncode)
        return f"crashed with {name} ({SIGNAL_MEANING.get(name, 'a native crash')})"
    return f"exit status {returncode}"
