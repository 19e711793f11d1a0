"""Routing: task -> model -> candidates (local engine, nodes) in the order the mode says, with fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from attrs import define, evolve, field
from cachetools import TTLCache

from freescode_lsp.config import Settings
from freescode_lsp.engines.base import Chunk, Engine, EngineError, GenerationRequest
from freescode_lsp.mesh.catalog import Catalog, build_catalog

Where = Literal["local", "remote"]


@define
class Candidate:
    """One way to run one model: an engine that serves it, and what that costs."""

    model: str
    engine: Engine
    where: Where
    price_per_1k: float = 0.0

    @property
    def label(self) -> str:
        """A short name for messages: `model@engine`."""
        return f"{self.model}@{self.engine.name}"


class AllCandidatesFailed(EngineError):
    """Every model in the chain and every engine for it failed; the message lists what was tried."""

    def __init__(self, model: str, attempts: list[str]) -> None:
        self.attempts = attempts
        tried = "; ".join(attempts) if attempts else "no engine can run any model in the chain"
        super().__init__(f"no model could answer for {model}: {tried}")


@define
class Router:
    """Answers which model serves a task and streams from the first candidate that works."""

    settings: Settings
    catalog: Catalog
    local: Any | None = None
    remotes: list[Any] = field(factory=list)
    on_fallback: Callable[[str, str], None] | None = None
    _effective: TTLCache[str, str] = field(factory=lambda: TTLCache(maxsize=64, ttl=5.0))

    @classmethod
    def from_settings(cls, settings: Settings, with_local: bool = True) -> Router:
        """A router with the local engine (if llama-cpp-python is installed) and static nodes."""
        catalog = build_catalog(settings)
        local = None
        if with_local and settings.network.mode != "remote-only":
            try:
                import llama_cpp  # noqa: F401

                from freescode_lsp.engines.local import LocalEngine

                local = LocalEngine(catalog, settings.local)
            except ImportError:
                local = None
        remotes = []
        if settings.network.mode != "local-only" and settings.nodes:
            from freescode_lsp.engines.remote import RemoteEngine

            remotes = [RemoteEngine.from_settings(node, settings.network) for node in settings.nodes]
        return cls(settings, catalog, local, remotes)

    def model_for(self, task: str) -> str:
        """The model the routing table names for a task."""
        return self.catalog.model_for(task)

    def effective_model(self, task: str) -> str:
        """The model that would answer the task now: the routed one, or the first runnable fallback."""
        cached = self._effective.get(task)
        if cached is not None:
            return cached
        routed = self.model_for(task)
        chosen = next((m for m in self.catalog.chain(routed) if self.candidates_for_model(m)), routed)
        self._effective[task] = chosen
        return chosen

    def candidates_for_model(self, model_id: str) -> list[Candidate]:
        """Engines that can run this one model, in the order the mode prefers."""
        mode = self.settings.network.mode
        local: list[Candidate] = []
        if mode != "remote-only" and self.local is not None and self.local.can_serve(model_id):
            local.append(Candidate(model_id, self.local, "local"))
        remote: list[Candidate] = []
        if mode != "local-only":
            cap = self.settings.network.max_price_per_1k
            for engine in self.remotes:
                if model_id not in engine.models:
                    continue
                price = float(engine.price_per_1k or 0.0)
                if cap is not None and price > cap:
                    continue
                remote.append(Candidate(model_id, engine, "remote", price))
        return remote + local if mode == "remote-first" else local + remote

    def plan(self, model_id: str) -> list[Candidate]:
        """Every candidate for the model, then for each model of its fallback chain."""
        return [c for model in self.catalog.chain(model_id) for c in self.candidates_for_model(model)]

    def unavailable_reasons(self, model_id: str) -> list[str]:
        """Why models of the chain have no candidate, in plain words."""
        reasons = []
        for model in self.catalog.chain(model_id):
            if self.candidates_for_model(model):
                continue
            if self.settings.network.mode == "remote-only":
                reasons.append(f"{model}: no node serves it (mode is remote-only)")
            elif self.local is None:
                reasons.append(f"{model}: no node serves it and the local engine is not installed")
            else:
                reasons.append(f"{model}: not on disk (freescode models pull {model}) and no node serves it")
        return reasons

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Stream from the first candidate that answers; later ones continue without repeating text."""
        attempts: list[str] = []
        given = ""
        for candidate in self.plan(request.model):
            attempt = evolve(request, model=candidate.model)
            produced = ""
            try:
                async for chunk in candidate.engine.stream(attempt):
                    produced += chunk.text
                    fresh = _unseen(given, produced, chunk.text)
                    if fresh is None:
                        continue
                    given += fresh
                    yield evolve(chunk, text=fresh) if fresh != chunk.text else chunk
                return
            except EngineError as exc:
                attempts.append(f"{candidate.label}: {exc}")
                if self.on_fallback is not None:
                    self.on_fallback(candidate.label, str(exc))
        attempts.extend(self.unavailable_reasons(request.model))
        raise AllCandidatesFailed(request.model, attempts)


def _unseen(given: str, produced: str, piece: str) -> str | None:
    """The part of `piece` the caller has not seen yet, when a retry regenerates a known prefix."""
    if len(produced) <= len(given):
        return "" if not piece else None
    if len(produced) - len(piece) >= len(given):
        return piece
    return produced[len(given) :]
