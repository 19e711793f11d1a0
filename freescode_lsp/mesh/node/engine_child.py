"""llama-cpp-python's server, ended when the gateway that started it is gone: its stdin reaches end of file.

Run as `python -m freescode_lsp.mesh.node.engine_child <llama_cpp.server arguments>` with stdin a pipe the
gateway holds open. The kernel closes that pipe however the gateway ends, SIGKILL included, so the engine
never outlives it; no prctl, no polling.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

GRACE_S = 5.0


def _watch_lifeline() -> None:
    """Block on stdin; at end of file ask the server to stop, and exit hard if stopping hangs."""
    try:
        while os.read(0, 1024):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(1)


def main() -> None:
    """Start the lifeline watcher, then run `python -m llama_cpp.server` in this process."""
    threading.Thread(target=_watch_lifeline, name="lifeline", daemon=True).start()
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
