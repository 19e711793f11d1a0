"""Each (model file, llama.cpp build) pair is tried once in a child process before this process loads it.

A model file or a llama.cpp build can kill the process that loads it: an illegal instruction, a
segfault, an abort from a failed check, a chat template that never ends. The language server and
the CLI run inference in-process for speed, so they first let a child load the file, render its chat
template and generate a few tokens. The verdict is kept on disk, keyed by the file (path, size,
modification time) and the installed llama.cpp library, so later uses cost a stat and a small read.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import sys
import time
from functools import lru_cache
from pathlib import Path

from attrs import asdict, define

from freescode_lsp.engines.local.trial_child import TEST_SIGNAL_ENV
from freescode_lsp.system import paths
from freescode_lsp.system.exits import describe_exit, signal_name

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 300.0
STDERR_TAIL = 300
ERROR_WORDS = re.compile(r"error|fail|assert|abort|invalid", re.IGNORECASE)


@define(frozen=True)
class Verdict:
    """Whether a model file loads and answers with the installed llama.cpp, and if not, why."""

    ok: bool
    reason: str = ""
    advice: str = ""
    seconds: float = 0.0
    lasting: bool = True

    def message(self, model_id: str, path: Path) -> str:
        """What the user reads: which model and file, what happened, what to do."""
        return f"{model_id} cannot run from {path}: {self.reason}. {self.advice.replace('MODEL', model_id)}".strip()


@lru_cache(maxsize=1)
def llama_build_id() -> str:
    """The installed llama-cpp-python version and its native libraries' sizes and times."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
        spec = importlib.util.find_spec("llama_cpp")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return "none"
    parts = [version]
    for location in (spec.submodule_search_locations or []) if spec else []:
        for library in sorted(Path(location).glob("lib/*")):
            stat = library.stat()
            parts.append(f"{library.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def file_key(path: Path) -> str | None:
    """The verdict's key for this file and llama.cpp build, or None when the file cannot be read."""
    try:
        stat = path.stat()
        resolved = str(path.resolve())
    except (OSError, ValueError, RuntimeError):
        return None
    fields = [resolved, stat.st_size, stat.st_mtime_ns, llama_build_id(), os.environ.get(TEST_SIGNAL_ENV, "")]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


def advice_for(stage: str, signal_name: str | None) -> str:
    """What the user can do about a failed probe."""
    if signal_name == "SIGILL":
        return (
            "Reinstall llama-cpp-python with portable flags (`python scripts/install_llama.py` in the "
            "Free-S_Code checkout, or see the README's install section). Other models fall back along the chain."
        )
    if signal_name == "SIGKILL":
        return "Free memory or choose a smaller model file; the task falls back along the model's chain."
    if stage == "chat template":
        return "Use another GGUF of this model (its chat template is broken); the task falls back along the chain."
    return (
        "Download the file again (`freescode models pull MODEL`) or point `[models.MODEL] gguf` at another "
        "file; the task falls back along the model's chain."
    )


def verdict_of(returncode: int | None, stdout: str, stderr: str, seconds: float) -> Verdict:
    """Read the child's exit and progress lines into a verdict."""
    stage, error = "load", ""
    for line in stdout.splitlines():
        try:
            fields = json.loads(line)
        except ValueError:
            continue
        if isinstance(fields, dict):
            stage = str(fields.get("stage", stage))
            error = str(fields.get("error", error))
            if fields.get("ok") is True:
                return Verdict(True, seconds=seconds)
    tail = next((line.strip() for line in reversed(stderr.splitlines()) if ERROR_WORDS.search(line)), "")[:STDERR_TAIL]
    doing = {"load": "loading", "chat template": "rendering its chat template", "generate": "generating"}.get(stage, stage)
    if returncode is not None and returncode < 0:
        name = signal_name(-returncode)
        reason = f"llama.cpp {describe_exit(returncode)} while {doing}"
        if tail:
            reason += f"; its last words: {tail}"
        return Verdict(False, reason, advice_for(stage, name), seconds)
    reason = f"failed while {doing}: {error or tail or f'exit status {returncode}'}"
    return Verdict(False, reason, advice_for(stage, None), seconds)


class ModelProbe:
    """Runs and remembers the child-process check of each model file."""

    def __init__(self, directory: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S, threads: int = 2) -> None:
        self.directory = directory if directory is not None else paths.cache_dir() / "probes"
        self.timeout_s = timeout_s
        self.threads = max(1, threads)
        self._known: dict[str, Verdict] = {}
        self._running: dict[str, asyncio.Future[Verdict]] = {}
        self.runs = 0

    def known(self, path: Path) -> Verdict | None:
        """The verdict for this file and build if one was reached before (this process or on disk)."""
        key = file_key(path)
        if key is None:
            return None
        verdict = self._known.get(key)
        if verdict is None:
            verdict = self._read(key)
            if verdict is not None:
                self._known[key] = verdict
        return verdict

    async def check(self, path: Path) -> Verdict:
        """The verdict for this file, probing it in a child process the first time."""
        known = self.known(path)
        if known is not None:
            return known
        key = file_key(path)
        if key is None:
            return Verdict(False, "the file cannot be read", advice_for("load", None), lasting=False)
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(self.run(path))
            self._running[key] = running
            running.add_done_callback(lambda _: self._running.pop(key, None))
        verdict = await asyncio.shield(running)
        if verdict.lasting:
            self.record(path, verdict)
        return verdict

    def record(self, path: Path, verdict: Verdict) -> None:
        """Keep a verdict for this file and build, here and on disk."""
        key = file_key(path)
        if key is None:
            return
        self._known[key] = verdict
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            staged = self.directory / f".{key}.{os.getpid()}.tmp"
            staged.write_text(json.dumps({**asdict(verdict), "file": str(path)}))
            staged.replace(self.directory / f"{key}.json")
        except OSError:
            pass

    def _read(self, key: str) -> Verdict | None:
        try:
            fields = json.loads((self.directory / f"{key}.json").read_text())
            return Verdict(
                bool(fields["ok"]),
                str(fields.get("reason", "")),
                str(fields.get("advice", "")),
                float(fields.get("seconds", 0.0)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    async def run(self, path: Path) -> Verdict:
        """Try the file in a child process now, whatever is known, and read its verdict."""
        self.runs += 1
        started = time.monotonic()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "freescode_lsp.engines.local.trial_child",
                str(path),
                str(self.threads),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("no trial run of %s (%s); loading it in-process unchecked", path, exc)
            return Verdict(True, f"not checked: {exc}", lasting=False)
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), self.timeout_s)
        except TimeoutError:
            return Verdict(
                False,
                f"loading and a first answer took longer than {self.timeout_s:g} s in a trial run",
                "Check that the file is a complete GGUF model and that the machine has memory for it.",
                time.monotonic() - started,
                lasting=False,
            )
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        text = stdout.decode("utf-8", "replace")
        return verdict_of(process.returncode, text, stderr.decode("utf-8", "replace"), time.monotonic() - started)
