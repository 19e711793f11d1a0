"""What every campaign shares: its result, a scratch home and a real server session."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from attrs import define, field
from pytest_lsp import ClientServerConfig

from freescode_lsp.testing.lsp_harness import Editor
from freescode_lsp.testing.node_options import node_options

# The campaigns' node serves every task's routed model but analyze's.
NODE_MODELS = ("code-llama-7b", "wizardcoder-13b", "mistral-7b", "starcoder2-15b", "wizardcoder-python-34b")
QUIET_SERVER = (
    "import os, runpy, sys; os.dup2(os.open(os.devnull, os.O_WRONLY), 2); "
    "sys.argv = ['freescode-lsp']; runpy.run_module('freescode_lsp.lsp.server', run_name='__main__')"
)


@define
class CampaignResult:
    """How many trials a campaign ran, which ones lost something, and how long it took."""

    name: str
    tried: int = 0
    failures: list[str] = field(factory=list)
    seconds: float = 0.0
    notes: list[str] = field(factory=list)
    figures: dict[str, float] = field(factory=dict)

    def fail(self, trial: int, detail: str) -> None:
        """Record that one trial lost or broke something."""
        self.failures.append(f"trial {trial}: {detail}")


def isolated_env(home: Path) -> dict[str, str]:
    """The environment for child processes: this one, with config and state in a scratch home."""
    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = str(home / "config")
    env["XDG_STATE_HOME"] = str(home / "state")
    env.pop("FREESCODE_CONFIG", None)
    return env


@contextlib.contextmanager
def scratch_home() -> Any:
    """A temporary home whose config and state directories this process uses too."""
    with tempfile.TemporaryDirectory(prefix="freescode-chaos-") as name:
        home = Path(name)
        saved = {key: os.environ.get(key) for key in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}
        os.environ.update({k: v for k, v in isolated_env(home).items() if k.startswith("XDG_")})
        try:
            yield home
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.asynccontextmanager
async def editor_session(home: Path, url: str, flavour: str = "visual-studio-code") -> AsyncIterator[Editor]:
    """The real server over stdio behind an emulated editor, initialized against one node."""
    command = [sys.executable, "-c", QUIET_SERVER] if not os.environ.get("CHAOS_VERBOSE") else None
    config = ClientServerConfig(
        server_command=command or [sys.executable, "-m", "freescode_lsp.lsp.server"],
        server_env=isolated_env(home),
    )
    client = await config.start()
    editor = Editor(client, flavour)
    try:
        await asyncio.wait_for(editor.initialize(node_options(url, NODE_MODELS)), 60)
        yield editor
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 10)


def server_pid(editor: Editor) -> int | None:
    """The server process id, while it runs."""
    server = editor.client._server
    return None if server is None or server.returncode is not None else int(server.pid)


def rss_kb(pid: int) -> int:
    """A process's resident memory in kB, from its status file."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
