"""Routing: task -> model -> candidates (local engine, nodes) in the order the mode says, with failover."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from attrs import define, evolve, field
from cachetools import TTLCache

from freescode_lsp.config import Settings, node_from_registry
from freescode_lsp.engines.base import Chunk, Engine, EngineError, GenerationRequest
from freescode_lsp.models.catalog import Catalog, build_catalog
from freescode_lsp.routing.hosts import HostBook, order_near_best

log = logging.getLogger(__name__)
Where = Literal["local", "remote"]
REGISTRY_TTL_S = 10.0


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


@define
class Tab:
    """What the metered attempts of one request cost, as the ledger records them."""

    usd: float = 0.0


class AllCandidatesFailed(EngineError):
    """Every model in the chain and every engine for it failed; the message lists what was tried."""

    def __init__(self, model: str, attempts: list[str], cost_usd: float = 0.0) -> None:
        self.attempts = attempts
        self.cost_usd = cost_usd
        tried = "; ".join(attempts) if attempts else "no engine can run any model in the chain"
        super().__init__(f"no model could answer for {model}: {tried}")


@define
class Router:
    """Answers which model serves a task and streams from the best candidate, failing over as needed."""

    settings: Settings
    catalog: Catalog
    local: Any | None = None
    remotes: list[Any] = field(factory=list)
    on_fallback: Callable[[str, str], None] | None = None
    registry: Any | None = None
    ledger: Any | None = None
    book: HostBook = field(factory=HostBook)
    rng: random.Random = field(factory=random.Random)
    _effective: TTLCache[str, str] = field(factory=lambda: TTLCache(maxsize=64, ttl=5.0))
    _registry_hosts: TTLCache[str, list[Any]] = field(factory=lambda: TTLCache(maxsize=256, ttl=REGISTRY_TTL_S))
    _registry_engines: dict[str, Any] = field(factory=dict)
    _skipped_hosts: set[str] = field(factory=set)

    @classmethod
    def from_settings(cls, settings: Settings, with_local: bool = True) -> Router:
        """A router with the local engine (if llama-cpp-python is installed), static nodes and the registry."""
        catalog = build_catalog(settings)
        local = None
        if with_local and settings.network.mode != "remote-only":
            try:
                import llama_cpp  # noqa: F401

                from freescode_lsp.engines.local import LocalEngine

                local = LocalEngine(catalog, settings.local)
            except ImportError:
                local = None
        remotes: list[Any] = []
        registry = None
        if settings.network.mode != "local-only":
            from freescode_lsp.engines.remote import RemoteEngine

            remotes = [RemoteEngine.from_settings(node, settings.network) for node in settings.nodes]
            if settings.network.registry:
                from freescode_lsp.wire.registry_client import RegistryClient

                registry = RegistryClient(settings.network.registry, timeout=settings.network.connect_timeout_s)
        return cls(settings, catalog, local, remotes, registry=registry, ledger=_open_ledger())

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

    def remote_engines(self, model_id: str) -> list[Any]:
        """Static nodes and registry hosts that serve this model."""
        static = [engine for engine in self.remotes if model_id in engine.models]
        return static + list(self._registry_hosts.get(model_id, []))

    def budget_reason(self) -> str | None:
        """Why remote hosts are off limits now, or None while the budget allows them."""
        limit = self.settings.network.budget_usd
        if limit is None:
            return None
        from freescode_lsp.routing.metering import Budget

        budget = Budget(self.ledger, limit)
        return None if budget.allows_remote(1.0) else budget.reason()

    def candidates_for_model(self, model_id: str, prompt_tokens: int = 0, max_tokens: int = 0) -> list[Candidate]:
        """Engines that can run this one model, filtered and ordered as the mode and scores say."""
        mode = self.settings.network.mode
        local: list[Candidate] = []
        if mode != "remote-only" and self.local is not None and self.local.can_serve(model_id):
            local.append(Candidate(model_id, self.local, "local"))
        remote: list[Candidate] = []
        if mode != "local-only":
            remote = self._remote_candidates(model_id, prompt_tokens + max_tokens)
        return remote + local if mode == "remote-first" else local + remote

    def _remote_candidates(self, model_id: str, needed_tokens: int) -> list[Candidate]:
        """Remote hosts for the model that pass the filters and are not resting, best first."""
        now = time.monotonic()
        found = [c for c in self._eligible_remote(model_id, needed_tokens) if not self.book.get(c.engine.name).cooling(now)]
        scores = [self.book.score(c.engine.name, c.price_per_1k, max(needed_tokens // 4, 64)) for c in found]
        return order_near_best(found, scores, self.rng)

    def _resting_candidates(self, model_id: str, needed_tokens: int) -> list[Candidate]:
        """Remote hosts that pass the filters but are cooling down, soonest back first: the last resort."""
        if self.settings.network.mode == "local-only":
            return []
        now = time.monotonic()
        resting = [c for c in self._eligible_remote(model_id, needed_tokens) if self.book.get(c.engine.name).cooling(now)]
        return sorted(resting, key=lambda c: self.book.get(c.engine.name).cooldown_until)

    def _eligible_remote(self, model_id: str, needed_tokens: int) -> list[Candidate]:
        """Remote hosts for the model within the price cap, the budget and their context."""
        cap = self.settings.network.max_price_per_1k
        over_budget = self.budget_reason() is not None
        found = []
        for engine in self.remote_engines(model_id):
            price = float(engine.price_per_1k or 0.0)
            if cap is not None and price > cap:
                continue
            if over_budget and price > 0:
                continue
            if engine.context and needed_tokens > engine.context:
                continue
            found.append(Candidate(model_id, engine, "remote", price))
        return found

    def plan(self, model_id: str, prompt_tokens: int = 0, max_tokens: int = 0) -> list[Candidate]:
        """Every candidate for the model, then for each model of its fallback chain; resting hosts last."""
        chain = self.catalog.chain(model_id)
        ready = [c for model in chain for c in self.candidates_for_model(model, prompt_tokens, max_tokens)]
        resting = [c for model in chain for c in self._resting_candidates(model, prompt_tokens + max_tokens)]
        return ready + resting

    def unavailable_reasons(self, model_id: str) -> list[str]:
        """Why models of the chain have no candidate, in plain words."""
        reasons = []
        budget = self.budget_reason()
        for model in self.catalog.chain(model_id):
            if self.candidates_for_model(model):
                continue
            if self.settings.network.mode == "remote-only":
                reasons.append(f"{model}: no node serves it (mode is remote-only)")
            elif self.local is None:
                reasons.append(f"{model}: no node serves it and the local engine is not installed")
            elif (failure := self._local_failure(model)) is not None:
                reasons.append(f"{failure} No node serves it.")
            else:
                reasons.append(f"{model}: not on disk (freescode models pull {model}) and no node serves it")
            if budget and self.remote_engines(model):
                reasons[-1] += f"; {budget}"
        return reasons

    def _local_failure(self, model_id: str) -> str | None:
        """Why the model's file on disk cannot run here, when a trial run showed it."""
        spec = self.catalog.get(model_id)
        return self.local.known_failure(spec) if spec is not None and self.local is not None else None

    async def refresh(self, model_id: str) -> None:
        """Fetch the registry's hosts for each model of the chain, unless cached moments ago."""
        if self.registry is None:
            return
        from freescode_lsp.engines.remote import RemoteEngine

        for model in self.catalog.chain(model_id):
            if model in self._registry_hosts:
                continue
            try:
                hosts = await self.registry.hosts_for(model)
            except Exception as exc:  # noqa: BLE001 - a registry that fails leaves static nodes and local
                log.warning("registry: no hosts for %s: %s", model, exc)
                hosts = []
            engines = []
            for host in hosts:
                try:
                    node = node_from_registry(host, model)
                except ValueError as exc:
                    self._skip_host(f"registry: {exc}; skipped")
                    continue
                engine = self._registry_engines.get(node.url)
                if engine is None:
                    engine = RemoteEngine.from_settings(node, self.settings.network)
                    self._registry_engines[node.url] = engine
                if model not in engine.models:
                    engine.models.append(model)
                engine.price_per_1k = node.price_per_1k
                engine.context = node.context or engine.context
                engines.append(engine)
            self._registry_hosts[model] = engines

    def _skip_host(self, reason: str) -> None:
        """Log a registry host that cannot be used, once per reason."""
        if reason not in self._skipped_hosts and len(self._skipped_hosts) < 256:
            self._skipped_hosts.add(reason)
            log.warning("%s", reason)

    async def stream(self, request: GenerationRequest, task: str | None = None) -> AsyncIterator[Chunk]:
        """Stream from the best candidate; on failure the next one continues where the text stopped."""
        deadline = request.deadline or time.monotonic() + self.settings.network.total_timeout_s
        request = evolve(request, deadline=deadline)
        await self.refresh(request.model)
        prompt_tokens = _estimate_tokens(request)
        attempts: list[str] = []
        given = ""
        delivered = 0
        tab = Tab()
        for candidate in self.plan(request.model, prompt_tokens, request.max_tokens):
            if time.monotonic() >= deadline:
                attempts.append("the overall deadline passed")
                break
            attempt = self._attempt_request(request, candidate, given, delivered)
            try:
                async for chunk in self._run(candidate, attempt, task, given, tab):
                    given += chunk.text
                    delivered += 1 if chunk.text else 0
                    yield chunk
                return
            except EngineError as exc:
                self._effective.clear()
                attempts.append(f"{candidate.label}: {exc}")
                if self.on_fallback is not None:
                    self.on_fallback(candidate.label, str(exc))
        attempts.extend(self.unavailable_reasons(request.model))
        raise AllCandidatesFailed(request.model, attempts, tab.usd)

    def _attempt_request(
        self, request: GenerationRequest, candidate: Candidate, given: str, delivered: int
    ) -> GenerationRequest:
        """The request as this candidate should see it: its model, completion form, the tokens still allowed."""
        attempt = evolve(request, model=candidate.model, continuation=given)
        spec = self.catalog.get(candidate.model)
        if candidate.where == "remote" and spec is not None and spec.prompt_style == "completion" and request.prompt:
            attempt = evolve(attempt, messages=[], stop=[*request.stop, *request.prompt_stop])
        continues_text = candidate.where == "local" or not attempt.messages
        if given and continues_text:
            attempt = evolve(attempt, max_tokens=max(1, request.max_tokens - delivered))
        return attempt

    async def _run(
        self, candidate: Candidate, request: GenerationRequest, task: str | None, given: str, tab: Tab
    ) -> AsyncIterator[Chunk]:
        """One attempt: measured, metered, and its failure classified for cooldown; the last chunk carries the cost."""
        name = candidate.engine.name
        started = time.monotonic()
        first: float | None = None
        pieces = 0
        usage = None
        outcome, error = "ok", None
        repeats = RepeatFilter(given)
        self.book.started(name)
        try:
            async for chunk in candidate.engine.stream(request):
                text = repeats.feed(chunk.text, final=chunk.usage is not None or chunk.finish_reason is not None)
                if chunk.text and first is None:
                    first = time.monotonic() - started
                pieces += 1 if chunk.text else 0
                usage = chunk.usage or usage
                if chunk.usage is not None:
                    priced = self._attempt(candidate, task, usage, pieces, request, "ok", None)
                    chunk = evolve(chunk, cost_usd=tab.usd + (priced.cost_usd if priced is not None else 0.0))
                if text or chunk.usage is not None or chunk.finish_reason is not None:
                    yield evolve(chunk, text=text) if text != chunk.text else chunk
            if candidate.where == "remote":
                self.book.observe(name, first, time.monotonic() - started, pieces)
        except EngineError as exc:
            outcome, error = ("partial" if pieces else "failed"), str(exc)
            if candidate.where == "remote":
                self.book.failed(name, str(exc), cool_down=bool(pieces) or _rests_host(exc), rest_s=_asked_rest(exc))
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            self.book.finished(name)
            if callable(getattr(usage, "note", None)):
                log.warning("%s: %s", name, usage.note())
            attempt = self._attempt(candidate, task, usage, pieces, request, outcome, error)
            if attempt is not None:
                tab.usd += attempt.cost_usd
                self._meter(attempt)

    def _attempt(
        self, candidate: Candidate, task: str | None, usage: Any, pieces: int, request: GenerationRequest,
        outcome: str, error: str | None,
    ) -> Any:
        """The ledger row for one attempt; a node's usage claim beyond what was counted is noted."""
        from freescode_lsp.routing.metering import Attempt

        prompt = usage.prompt_tokens if usage is not None else _estimate_tokens(request)
        completion = usage.completion_tokens if usage is not None else pieces
        note = usage.note() if callable(getattr(usage, "note", None)) else None
        try:
            return Attempt(
                task=task, model=candidate.model, host=candidate.engine.name, prompt_tokens=prompt,
                completion_tokens=completion, price_per_1k=candidate.price_per_1k, outcome=outcome,
                error="; ".join(part for part in (error, note) if part) or None,
            )
        except (TypeError, ValueError) as exc:
            log.warning("usage ledger: cannot record an attempt on %s: %s", candidate.engine.name, exc)
            return None

    def _meter(self, attempt: Any) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(attempt)
        except Exception as exc:  # noqa: BLE001 - metering must never break a request
            log.warning("usage ledger: %s", exc)


def _estimate_tokens(request: GenerationRequest) -> int:
    chars = sum(len(m.content) for m in request.messages) or len(request.prompt or "")
    return chars // 4 + 1


class RepeatFilter:
    """Drops a retry's output while it repeats, from the start, the text the caller already has."""

    def __init__(self, given: str) -> None:
        self.given = given
        self.held = ""
        self.deciding = bool(given)

    def feed(self, text: str, final: bool = False) -> str:
        """The part of `text` the caller has not seen; held back while it may still be a repeat."""
        if not self.deciding:
            return text
        self.held += text
        if self.held.startswith(self.given):
            self.deciding = False
            return self.held[len(self.given) :]
        if self.given.startswith(self.held):
            self.deciding = not final
            return ""
        self.deciding = False
        return self.held


def _rests_host(exc: EngineError) -> bool:
    """Whether the failure says the host is down, stalled or overloaded (not that the request was bad)."""
    from freescode_lsp.engines.remote import NodeBusy, NodeTimeout, NodeUnreachable

    return isinstance(exc, (NodeTimeout, NodeUnreachable, NodeBusy))


def _asked_rest(exc: EngineError) -> float | None:
    """The rest a busy host asked for with Retry-After."""
    return getattr(exc, "retry_after_s", None)


def _open_ledger() -> Any | None:
    try:
        from freescode_lsp.routing.metering import Ledger

        return Ledger()
    except Exception as exc:  # noqa: BLE001 - no ledger, no metering; requests still work
        log.warning("usage ledger unavailable: %s", exc)
        return None
