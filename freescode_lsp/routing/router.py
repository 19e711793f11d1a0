"""Routing: task -> model -> candidates (local engine, nodes) in the order the mode says, with failover."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Literal

from attrs import define, evolve, field
from cachetools import TTLCache

from freescode_lsp.config import Settings, node_from_registry
from freescode_lsp.engines.base import Chunk, Engine, EngineError, GenerationRequest, Usage
from freescode_lsp.models.catalog import Catalog
from freescode_lsp.routing.fleet import Closable, build_engines, close_quietly, open_ledger
from freescode_lsp.routing.hosts import HostBook, order_near_best
from freescode_lsp.routing.metering import Ledger, Outcome
from freescode_lsp.routing.repeats import RepeatFilter
from freescode_lsp.routing.tab import Tab, estimate_tokens

if TYPE_CHECKING:
    from freescode_lsp.engines.local.engine import LocalEngine
    from freescode_lsp.engines.remote import RemoteEngine
    from freescode_lsp.wire.registry_client import RegistryClient

log = logging.getLogger(__name__)
Where = Literal["local", "remote"]
REGISTRY_TTL_S = 10.0
Hook = Callable[[str, str], None]
Warn = Callable[[str], None]


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

    def __init__(self, model: str, attempts: list[str], cost_usd: float = 0.0) -> None:
        self.attempts = attempts
        self.cost_usd = cost_usd
        tried = "; ".join(attempts) if attempts else "no engine can run any model in the chain"
        super().__init__(f"no model could answer for {model}: {tried}")


@define
class Router:
    """Answers which model serves a task and streams from the best candidate, failing over as needed.

    The router owns the engines, the registry client and the ledger it opens: `apply_settings` replaces them
    (closing the old ones once tasks that may still stream from them are over) and `aclose` closes them all.
    """

    settings: Settings
    catalog: Catalog
    local: LocalEngine | None = None
    remotes: list[RemoteEngine] = field(factory=list)
    on_fallback: Hook | None = None
    registry: RegistryClient | None = None
    ledger: Ledger | None = None
    book: HostBook = field(factory=HostBook)
    rng: random.Random = field(factory=random.Random)
    on_warning: Warn | None = None
    with_local: bool = True
    _effective: TTLCache[str, str] = field(factory=lambda: TTLCache(maxsize=64, ttl=5.0))
    _registry_hosts: TTLCache[str, list[RemoteEngine]] = field(factory=lambda: TTLCache(maxsize=256, ttl=REGISTRY_TTL_S))
    _registry_engines: dict[str, RemoteEngine] = field(factory=dict)
    _skipped_hosts: set[str] = field(factory=set)
    _retired: list[Closable] = field(factory=list)
    _closing: set[asyncio.Task[None]] = field(factory=set)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        with_local: bool = True,
        *,
        on_fallback: Hook | None = None,
        on_warning: Warn | None = None,
    ) -> Router:
        """A router with the local engine (if llama-cpp-python is installed), static nodes and the registry."""
        built = build_engines(settings, with_local)
        router = cls(
            settings,
            built.catalog,
            built.local,
            built.remotes,
            on_fallback,
            built.registry,
            open_ledger(),
            on_warning=on_warning,
            with_local=with_local,
        )
        router._hook_local()
        return router

    def _hook_local(self) -> None:
        """Send the local engine's warnings to `on_warning`, when one is set."""
        if self.local is not None and self.on_warning is not None:
            self.local.warn = self.on_warning

    def apply_settings(self, settings: Settings) -> None:
        """Follow new settings: new catalog, nodes and registry client; loaded models kept if `[local]` is the same.

        What is replaced is closed after the old total timeout, when no task can still stream from it.
        """
        previous = self.settings
        built = build_engines(settings, self.with_local, keep=self.local)
        replaced: list[Closable] = [*self.remotes, *self._registry_engines.values()]
        if self.local is not None and self.local is not built.local:
            replaced.append(self.local)
        if self.registry is not None:
            replaced.append(self.registry)
        self.settings, self.catalog = settings, built.catalog
        self.local, self.remotes, self.registry = built.local, built.remotes, built.registry
        self.book = HostBook()
        self._effective.clear()
        self._registry_hosts.clear()
        self._registry_engines = {}
        self._skipped_hosts = set()
        if self.ledger is None:
            self.ledger = open_ledger()
        self._hook_local()
        self._retire(replaced, previous.network.total_timeout_s)

    def engines(self) -> list[Engine]:
        """Every engine the router holds now: local, static nodes, and the hosts the registry named."""
        local: list[Engine] = [self.local] if self.local is not None else []
        return [*local, *self.remotes, *self._registry_engines.values()]

    def _retire(self, replaced: list[Closable], grace_s: float) -> None:
        """Close replaced engines after `grace_s`; without a running loop, `aclose` closes them."""
        self._retired.extend(replaced)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._close_later(replaced, grace_s))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_later(self, replaced: list[Closable], delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._close_retired(replaced)

    async def _close_retired(self, replaced: Sequence[Closable]) -> None:
        for item in replaced:
            if item in self._retired:
                self._retired.remove(item)
                await close_quietly(item)

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every engine the router made (registry hosts and replaced ones included), its registry client
        and its ledger."""
        for task in list(self._closing):
            task.cancel()
        current: list[Closable] = [*self.remotes, *self._registry_engines.values()]
        if self.local is not None:
            current.append(self.local)
        if self.registry is not None:
            current.append(self.registry)
        await self._close_retired(list(self._retired))
        for item in current:
            await close_quietly(item)
        if self.ledger is not None:
            self.ledger.close()

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

    def remote_engines(self, model_id: str) -> list[RemoteEngine]:
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
        for model in self.catalog.chain(model_id):
            if model in self._registry_hosts:
                continue
            try:
                hosts = await self.registry.hosts_for(model)
            except Exception as exc:  # noqa: BLE001 - a registry that fails leaves static nodes and local
                log.warning("registry: no hosts for %s: %s", model, exc)
                hosts = []
            self._registry_hosts[model] = self._registry_hosts_for(model, hosts)

    def _registry_hosts_for(self, model: str, hosts: Sequence[object]) -> list[RemoteEngine]:
        """An engine for each usable host of the registry's answer, reused across answers by URL."""
        from freescode_lsp.engines.remote import RemoteEngine

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
        return engines

    def _skip_host(self, reason: str) -> None:
        """Log a registry host that cannot be used, once per reason."""
        if reason not in self._skipped_hosts and len(self._skipped_hosts) < 256:
            self._skipped_hosts.add(reason)
            log.warning("%s", reason)

    async def stream(self, request: GenerationRequest, task: str | None = None) -> AsyncGenerator[Chunk, None]:
        """Stream from the best candidate; on failure the next one continues where the text stopped.

        The last chunk's `cost_usd` is what the ledger recorded for every attempt of the request; when all
        fail, AllCandidatesFailed carries it.
        """
        deadline = request.deadline or time.monotonic() + self.settings.network.total_timeout_s
        request = evolve(request, deadline=deadline)
        await self.refresh(request.model)
        prompt_tokens = estimate_tokens(request)
        attempts: list[str] = []
        given = ""
        delivered = 0
        tab = Tab(self.ledger, task)
        for candidate in self.plan(request.model, prompt_tokens, request.max_tokens):
            if time.monotonic() >= deadline:
                attempts.append("the overall deadline passed")
                break
            attempt = self._attempt_request(request, candidate, given, delivered)
            try:
                async for chunk in self._run(candidate, attempt, given, tab):
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

    def _attempt_request(self, request: GenerationRequest, candidate: Candidate, given: str, delivered: int) -> GenerationRequest:
        """The request as this candidate should see it: its model, completion form, the tokens still allowed."""
        attempt = evolve(request, model=candidate.model, continuation=given)
        spec = self.catalog.get(candidate.model)
        if candidate.where == "remote" and spec is not None and spec.prompt_style == "completion" and request.prompt:
            attempt = evolve(attempt, messages=[], stop=[*request.stop, *request.prompt_stop])
        continues_text = candidate.where == "local" or not attempt.messages
        if given and continues_text:
            attempt = evolve(attempt, max_tokens=max(1, request.max_tokens - delivered))
        return attempt

    async def _run(self, candidate: Candidate, request: GenerationRequest, given: str, tab: Tab) -> AsyncGenerator[Chunk, None]:
        """One attempt: measured, metered, and its failure classified for cooldown; the last chunk carries the cost."""
        name = candidate.engine.name
        started = time.monotonic()
        first: float | None = None
        pieces = 0
        usage: Usage | None = None
        outcome: Outcome = "ok"
        error: str | None = None
        charged = False
        repeats = RepeatFilter(given)
        self.book.started(name)
        try:
            async for chunk in candidate.engine.stream(request):
                text = repeats.feed(chunk.text, final=chunk.usage is not None or chunk.finish_reason is not None)
                if chunk.text and first is None:
                    first = time.monotonic() - started
                pieces += 1 if chunk.text else 0
                usage = chunk.usage or usage
                if chunk.usage is not None and not charged:
                    charged = True
                    tab.charge(name, candidate.model, candidate.price_per_1k, request, usage, pieces, "ok")
                    chunk = evolve(chunk, cost_usd=tab.usd)
                if text or chunk.usage is not None or chunk.finish_reason is not None:
                    yield evolve(chunk, text=text) if text != chunk.text else chunk
            if candidate.where == "remote":
                self.book.observe(name, first, time.monotonic() - started, pieces)
        except EngineError as exc:
            outcome, error = ("partial" if pieces else "failed"), str(exc)
            if candidate.where == "remote":
                rests = bool(pieces) or exc.rests_host
                self.book.failed(name, str(exc), cool_down=rests, rest_s=exc.retry_after)
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            self.book.finished(name)
            if not charged:
                tab.charge(name, candidate.model, candidate.price_per_1k, request, usage, pieces, outcome, error)
