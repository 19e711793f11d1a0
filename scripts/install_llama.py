"""Install llama-cpp-python into the running interpreter, built so it runs on any CPU of this kind.

llama.cpp's default build is native (`-march=native`): it compiles in every instruction set the
build machine advertises, AMX and AVX-512 included, and dies with SIGILL where one of them is
missing or faults (a VM that advertises AMX it does not provide, a copied environment). pip's
wheel cache keys a built wheel by the source archive only, so such a build is also reused
silently whatever CMAKE_ARGS say. This script therefore:

- picks portable build flags from llama.cpp's own options (x86-64: AVX2, FMA, F16C, BMI2; older
  x86-64 CPUs get AVX or SSE4.2 builds; arm64: llama.cpp's defaults), unless the user passes
  their own CMAKE_ARGS or FREESCODE_LLAMA_NATIVE=1;
- builds the wheel with pip's cache off into a folder named by the version and those flags (and
  this CPU, for a native or custom build), and installs only from there;
- records the build in the environment and checks the installed library's CPU features, so a
  second run with nothing changed does nothing and a wrong build is never left in place.

Usage: python scripts/install_llama.py   (stdlib only; run it with the target venv's python)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = Path(sys.prefix) / "freescode-llama-build.json"
X86_LEVELS = (
    ("avx2", {"avx2", "fma", "f16c", "bmi2", "avx", "sse4_2"}, ["SSE42", "AVX", "AVX2", "FMA", "F16C", "BMI2"]),
    ("avx", {"avx", "sse4_2"}, ["SSE42", "AVX"]),
    ("sse42", {"sse4_2"}, ["SSE42"]),
)
X86_OPTIONS = [
    "SSE42",
    "AVX",
    "AVX2",
    "FMA",
    "F16C",
    "BMI2",
    "AVX_VNNI",
    "AVX512",
    "AVX512_VBMI",
    "AVX512_VNNI",
    "AVX512_BF16",
    "AMX_TILE",
    "AMX_INT8",
    "AMX_BF16",
]
PORTABLE_FEATURES = {"SSE3", "SSSE3", "SSE42", "AVX", "AVX2", "FMA", "F16C", "BMI2"}
MACHINE_FEATURES = ("AVX512", "AMX", "AVX_VNNI", "SVE", "SME")


def pinned_version() -> str:
    """The llama-cpp-python version pinned in pyproject.toml."""
    match = re.search(r"llama-cpp-python(?:\[[a-z,]+\])?==([0-9][0-9A-Za-z.]*)", (ROOT / "pyproject.toml").read_text())
    if not match:
        sys.exit("install_llama: no llama-cpp-python==VERSION pin in pyproject.toml")
    return match.group(1)


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_identity() -> str:
    """A fingerprint of this CPU, for builds that are only valid on it."""
    return hashlib.sha256(" ".join(sorted(cpu_flags())).encode() + platform.machine().encode()).hexdigest()[:12]


def portable_plan() -> dict:
    """Flags for a build that runs on any CPU of this architecture that has the chosen level."""
    machine = platform.machine().lower()
    if machine in {"x86_64", "amd64"}:
        flags = cpu_flags()
        for level, needs, options in X86_LEVELS:
            if not flags or needs <= flags:
                on = set(options)
                args = ["-DGGML_NATIVE=OFF"] + [f"-DGGML_{o}={'ON' if o in on else 'OFF'}" for o in X86_OPTIONS]
                return {"profile": "portable", "level": level, "cmake_args": " ".join(args), "cpu": None}
    if machine in {"aarch64", "arm64"}:
        return {"profile": "portable", "level": "arm64-default", "cmake_args": "", "cpu": cpu_identity()}
    return {"profile": "default", "level": machine, "cmake_args": "", "cpu": cpu_identity()}


def build_plan() -> dict:
    """The build this machine gets: the user's CMAKE_ARGS, a native build on request, or portable."""
    user_args = os.environ.get("CMAKE_ARGS", "").strip()
    if user_args:
        return {"profile": "custom", "level": "custom", "cmake_args": user_args, "cpu": cpu_identity()}
    if os.environ.get("FREESCODE_LLAMA_NATIVE") == "1":
        return {"profile": "native", "level": "native", "cmake_args": "-DGGML_NATIVE=ON", "cpu": cpu_identity()}
    return portable_plan()


def plan_key(version: str, plan: dict) -> str:
    """The name of the wheel folder for this version and build."""
    digest = hashlib.sha256(json.dumps([version, plan, platform.machine(), sys.version_info[:2]]).encode())
    return f"llama_cpp_python-{version}-{plan['profile']}-{plan['level']}-{digest.hexdigest()[:12]}"


def wheel_root() -> Path:
    """Where built wheels are kept, one folder per build key."""
    base = os.environ.get("FREESCODE_WHEEL_CACHE")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "freescode" / "wheels"


def pip(*args: str, env: dict | None = None) -> None:
    """Run pip in this interpreter with its cache off."""
    subprocess.run([sys.executable, "-m", "pip", *args, "--no-cache-dir"], check=True, env=env)


def built_wheel(version: str, plan: dict, key: str) -> Path:
    """The wheel for this build, compiling it (about 5 minutes on two cores) when it is not kept yet."""
    folder = wheel_root() / key
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if wheels:
        return wheels[0]
    print(
        f"install_llama: building llama-cpp-python {version} ({plan['profile']}, {plan['level']}): "
        f"CMAKE_ARGS={plan['cmake_args']!r}",
        file=sys.stderr,
        flush=True,
    )
    env = {**os.environ, "CMAKE_ARGS": plan["cmake_args"], "FORCE_CMAKE": "1"}
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        pip(
            "wheel", "--quiet", "--no-deps", "--no-binary", "llama-cpp-python", "-w", tmp, f"llama-cpp-python=={version}", env=env
        )
        made = sorted(Path(tmp).glob("llama_cpp_python-*.whl"))
        if not made:
            sys.exit("install_llama: pip built no llama-cpp-python wheel")
        staged = Path(tmp) / "done"
        staged.mkdir()
        shutil.move(str(made[0]), staged / made[0].name)
        try:
            staged.rename(folder)
        except OSError:
            if not folder.exists():
                raise
    return sorted(folder.glob("llama_cpp_python-*.whl"))[0]


def installed_features() -> tuple[str, list[str]]:
    """llama.cpp's system info line and the CPU features it was built with, read in a child process."""
    code = "import llama_cpp, sys; sys.stdout.write(llama_cpp.llama_print_system_info().decode())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"llama_cpp does not import (exit {done.returncode}): {done.stderr.strip()[-400:]}")
    info = done.stdout.strip()
    return info, sorted({m.group(1) for m in re.finditer(r"([A-Z0-9_]+) = 1", info)})


def unexpected_features(plan: dict, features: list[str]) -> list[str]:
    """Features a build of this plan must not have: machine-specific ones in a portable build."""
    if plan["profile"] != "portable":
        return []
    return [f for f in features if f.startswith(MACHINE_FEATURES)]


def up_to_date(version: str, key: str, plan: dict) -> bool:
    """Whether the environment already holds this exact build and it checks out."""
    try:
        marker = json.loads(MARKER.read_text())
        if marker.get("key") != key:
            return False
        import importlib.metadata

        if importlib.metadata.version("llama-cpp-python") != version:
            return False
        _, features = installed_features()
    except Exception:  # noqa: BLE001 - any failure to inspect the installed build means it is rebuilt
        return False
    return not unexpected_features(plan, features)


def main() -> int:
    """Install the planned build unless it is already there, then check it."""
    version = pinned_version()
    plan = build_plan()
    key = plan_key(version, plan)
    if up_to_date(version, key, plan):
        print(f"install_llama: llama-cpp-python {version} ({plan['profile']}, {plan['level']}) is installed", file=sys.stderr)
        return 0
    wheel = built_wheel(version, plan, key)
    pip("install", "--quiet", "--force-reinstall", "--no-deps", str(wheel))
    pip("install", "--quiet", str(wheel))
    info, features = installed_features()
    bad = unexpected_features(plan, features)
    if bad:
        print(
            f"install_llama: the installed llama.cpp uses {', '.join(bad)}, which a portable build must not; "
            f"remove {wheel.parent} and run again.\n{info}",
            file=sys.stderr,
        )
        return 1
    MARKER.write_text(json.dumps({"key": key, "version": version, **plan, "features": features}, indent=1) + "\n")
    print(
        f"install_llama: installed llama-cpp-python {version} ({plan['profile']}, {plan['level']}); "
        f"CPU features: {', '.join(features) or 'none reported'}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
