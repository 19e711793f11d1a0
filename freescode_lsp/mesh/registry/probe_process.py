"""The periodic probe rounds in a child process of their own, so that probing thousands of nodes never slows the answers.

The process answering clients starts one child, which opens the same database and runs the rounds at a lower
CPU priority; the database's leases and change notes (NOTIFY, or SQLite's change counter) tie the two together
as they tie replicas together. The child reads its database, settings and operators' ownership keys as one JSON
line on stdin, and never sees a token. `stop` on stdin ends it cleanly (its leases given back); stdin closing
without it means the parent died, and the child dies at once, as part of the same replica. A child that exits
on its own (its database unreachable at start) is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import attrs

from freescode_lsp.mesh.collection_pauses import with_scheduled_collections
from freescode_lsp.mesh.fast_loop import run_on_fast_loop
from freescode_lsp.mesh.registry.addresses import AddressPolicy
from freescode_lsp.mesh.registry.database import StoreUnavailable
from freescode_lsp.mesh.registry.probe_rounds import Prober, RegistrySettings
from freescode_lsp.mesh.registry.store import RegistryStore

NICENESS = 10
RESTART_S = 1.0
STOP_GRACE_S = 10.0
STOP = b"stop\n"


def plan(target: str | Path, settings: RegistrySettings, keys: dict[str, list[bytes]]) -> bytes:
    """The JSON line a child reads first: where the database is, the settings, each operator's ownership keys."""
    table = {operator: [key.hex() for key in found] for operator, found in keys.items()}
    return json.dumps({"db": str(target), "settings": attrs.asdict(settings), "keys": table}).encode() + b"\n"


def read_plan(line: bytes) -> tuple[str, RegistrySettings, dict[str, list[bytes]]]:
    """The database, settings and keys of a plan line."""
    raw: dict[str, Any] = json.loads(line)
    values = dict(raw["settings"])
    values["addresses"] = AddressPolicy(**values["addresses"])
    keys = {operator: [bytes.fromhex(key) for key in found] for operator, found in raw["keys"].items()}
    return str(raw["db"]), RegistrySettings(**values), keys


class ProbeProcess:
    """Keeps one probing child running for this replica until stopped."""

    def __init__(self, target: str | Path, settings: RegistrySettings, keys: dict[str, list[bytes]]) -> None:
        self._plan = plan(target, settings, keys)
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.starts = 0

    async def run(self) -> None:
        """Start the child, and start it again whenever it exits on its own; runs until cancelled or stopped."""
        while not self._stopping:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL
            )
            self.starts += 1
            assert self._process.stdin is not None
            self._process.stdin.write(self._plan)
            code = await self._process.wait()
            if not self._stopping:
                _log(f"the probing process exited with code {code}; starting it again in {RESTART_S:g} s")
                await asyncio.sleep(RESTART_S)

    async def stop(self) -> None:
        """Ask the child to give its leases back and end; killed if it takes longer than STOP_GRACE_S."""
        self._stopping = True
        process = self._process
        if process is None or process.returncode is not None or process.stdin is None:
            return
        with contextlib.suppress(OSError):
            process.stdin.write(STOP)
            await process.stdin.drain()
            process.stdin.close()
        try:
            async with asyncio.timeout(STOP_GRACE_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


async def _child() -> int:
    """The child's life: read the plan, probe until `stop` (clean end) or until stdin closes (the parent died)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    target, settings, keys = read_plan(await stdin.readline())
    try:
        store = await asyncio.to_thread(RegistryStore, target)
    except StoreUnavailable as exc:
        _log(f"the probing process cannot open the database: {exc}")
        return 1
    prober = Prober(store, settings, lambda operator: keys.get(operator, []))
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    said = asyncio.ensure_future(stdin.readline())
    await prober.start()
    await asyncio.wait([said, asyncio.ensure_future(stopped.wait())], return_when=asyncio.FIRST_COMPLETED)
    if said.done() and said.result() != STOP:
        os._exit(1)
    await prober.stop()
    store.close()
    return 0


def _log(line: str) -> None:
    print(f"freescode registry: {line}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(run_on_fast_loop(with_scheduled_collections(_child())))
