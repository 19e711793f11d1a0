"""The install section of `freescode doctor`: the interpreter, llama-cpp-python, its build and the CPU it runs on."""

from __future__ import annotations

import json
import platform
import re
import subprocess
import sys
from pathlib import Path

from freescode_lsp.doctor.check import Check

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
