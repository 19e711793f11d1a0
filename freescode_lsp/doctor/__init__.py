"""`freescode doctor`: the facts a user (or a bug report) needs, each problem with what to do.

Sections, in the order a reader wants them: the installation (`install`), the settings (`config`), model files
(`models`), which model answers each task (`tasks`), and the nodes and registry (`network`). Editors show the
same report: `:checkhealth freescode` and VS Code's "Run Doctor" read `freescode doctor --json`.
"""

from __future__ import annotations

from pathlib import Path

from attrs import asdict, evolve

from freescode_lsp import __version__, config
from freescode_lsp.doctor.check import Check, Section, Status
from freescode_lsp.doctor.install import llama_checks, python_check
from freescode_lsp.doctor.models import model_checks
from freescode_lsp.doctor.network import network_checks, silent_nodes
from freescode_lsp.doctor.tasks import task_checks

__all__ = ["Check", "Section", "Status", "as_json", "diagnose", "render"]


async def diagnose(workspace: Path | None = None) -> list[Check]:
    """Every check, in the order a reader wants them."""
    loaded = config.load_settings(workspace)
    settings = loaded.settings
    checks = [Check("freescode", "ok", __version__), python_check(), *llama_checks()]
    for problem in loaded.problems:
        checks.append(Check("config", "warn", problem, "Fix the value named; the default is used meanwhile.", "config"))
    local_loads = any(c.name == "llama-cpp-python" and c.status == "ok" for c in checks) and not any(
        c.name == "llama.cpp" and c.status == "fail" for c in checks
    )
    if local_loads:
        checks.extend(_in("models", await model_checks(settings)))
    network = await network_checks(settings)
    checks.extend(await task_checks(settings, local_loads, silent_nodes(settings, network)))
    return [*checks, *network]


def _in(section: Section, checks: list[Check]) -> list[Check]:
    return [evolve(check, section=section) for check in checks]


def render(checks: list[Check]) -> str:
    """The checks as aligned lines, each problem followed by what to do."""
    lines = []
    for check in checks:
        lines.append(f"{check.status.upper():5} {check.name}: {check.detail}")
        if check.todo and check.status != "ok":
            lines.append(f"      -> {check.todo}")
    return "\n".join(lines)


def as_json(checks: list[Check]) -> list[dict[str, str]]:
    """The checks as plain dictionaries: name, status, detail, todo and section."""
    return [asdict(check) for check in checks]
