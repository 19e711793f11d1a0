"""The tasks section of `freescode doctor`: which model answers each task now, as the router would choose it."""

from __future__ import annotations

from collections.abc import Collection

from attrs import evolve

from freescode_lsp.config import Settings
from freescode_lsp.doctor.check import Check
from freescode_lsp.routing.router import Candidate, Router
from freescode_lsp.task_table import TASKS


async def task_checks(settings: Settings, with_local: bool, silent_nodes: Collection[str] = ()) -> list[Check]:
    """For each task, the routed model, or the first model along its fallback chain that can run here.

    The router is the language server's own, so the answer is the one the editor gets. Nodes in `silent_nodes`
    (URLs that failed the network section) are left out: they cannot answer now. Nothing is asked over the
    network; registry hosts are looked up per request and are not counted. `with_local` only when llama.cpp is
    known to load: the router imports it in this process.
    """
    answering = evolve(settings, nodes=[node for node in settings.nodes if str(node.url) not in silent_nodes])
    router = Router.from_settings(answering, with_local)
    try:
        return [_task_check(router, spec.id, _silent_for(settings, silent_nodes)) for spec in TASKS]
    finally:
        await router.aclose()


def _silent_for(settings: Settings, silent_nodes: Collection[str]) -> dict[str, list[str]]:
    """For each model, the configured nodes that serve it but did not answer."""
    found: dict[str, list[str]] = {}
    for node in settings.nodes:
        if str(node.url) in silent_nodes:
            for model in node.models:
                found.setdefault(model, []).append(node.name or str(node.url))
    return found


def _task_check(router: Router, task: str, silent: dict[str, list[str]]) -> Check:
    """How one task stands: answered by its routed model, by a fallback (and why), or by nothing."""
    name = f"task {task}"
    routed = router.model_for(task)
    chosen = router.effective_model(task)
    candidates = router.candidates_for_model(chosen)
    if not candidates:
        reasons = "; ".join(router.unavailable_reasons(routed))
        todo = "Pull a model of the chain (freescode models pull MODEL) or configure a node that serves one."
        return Check(name, "fail", f"no model of {routed}'s chain can run: {reasons}", todo, section="tasks")
    if chosen == routed:
        return Check(name, "ok", f"{chosen} answers {_where(candidates)}", section="tasks")
    why = next((r for r in router.unavailable_reasons(routed) if r.startswith(routed)), f"{routed} cannot run")
    if silent.get(routed):
        why += f"; configured for it but not answering now: {', '.join(silent[routed])}"
    if router.registry is not None:
        why += "; the registry may list hosts for it when a request comes"
    todo = f"Pull {routed} (freescode models pull {routed}), configure a node that serves it, or route {task} elsewhere."
    return Check(name, "warn", f"{chosen} answers {_where(candidates)}, in place of the routed {why}", todo, section="tasks")


def _where(candidates: list[Candidate]) -> str:
    """Where the first candidate runs, in words."""
    if candidates[0].where == "local":
        return "on this machine"
    remote = [c for c in candidates if c.where == "remote"]
    if len(remote) == 1:
        return f"on {remote[0].engine.name.removeprefix('node:')}"
    return f"on one of {len(remote)} configured nodes"
