"""The registry service: the model catalog and, per model, the live hosts serving it, kept in SQLite or PostgreSQL.

Endpoints (JSON; errors are `{"error": {"message", "type", "code"}}`):

    GET    /health                           {"status": "ok"}
    GET    /v1/models                        {"object": "list", "data": [model, ...]}
    GET    /v1/models/{id}                   model: id, context, price_per_1k, specialties, available_hosts
    POST   /v1/catalog                       operator: add a model {id, context, price_per_1k?, specialties?}
    GET    /v1/nodes                         every registration with its probe state and why models are unlisted
    GET    /v1/nodes/{node_id}               one registration; its operator's token also shows why a probe failed
    POST   /v1/nodes                         operator: {url, models, price_per_1k, context, operator?, probe_key?}
    POST   /v1/nodes/{node_id}/heartbeat     owning operator: {load?, ttft_ms?, tokens_per_s?}
    DELETE /v1/nodes/{node_id}               owning operator

Operators send `Authorization: Bearer <token>`; the token decides who owns a node, while `operator` in a
registration is only a label. `probe_key` is the API key used to probe a node that checks client keys;
it is stored but never shown. A host is listed for a model while its lease is live
(heard from within lease_s), its last probe succeeded, and its own /v1/models lists the model.

A registration is kept only once the node proves that the registering operator runs it: the registry sends
it a fresh challenge (GET /freescode/ownership, see freescode_lsp.wire.ownership) and the answer must be made
with that operator's token, which only a `freescode node serve` gateway started with it can do (403
otherwise; 429 while the operator already has challenges under way). Every probe asks again. A node URL is
stored in one canonical spelling, and an endpoint (its addresses, port and path; every loopback address
counts as one) belongs to one operator at a time: the last one whose node proved it runs it. The registry
connects only to the addresses its AddressPolicy allows: public ones, plus loopback or private ones when the
registry was started to allow them, never other special-purpose ones. Every answer carries the
`x-freescode-registry` header, so a registry is never probed as a node.

Any number of replicas may serve one PostgreSQL database: model listings come from a view about a second
old at most (read again soon after any change this replica or, through NOTIFY, another one makes; see
directory.py), heartbeats are written in batches (heartbeats.py; one for a node the listing holds is answered
before its write, and node answers wait for the writes answered so far), every other answer reads the database, and
the replicas share the probing (probe_rounds.py). A served replica runs its periodic probe rounds in a child
process of lower priority (probe_process.py), so that probing never slows the answers. When the database
cannot be reached the answer is a 503, so that clients try another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from freescode_lsp.mesh.registry.addresses import (
    AddressError,
    Resolver,
    allowed_addresses,
    endpoint_keys,
    parse_node_url,
    system_resolver,
)
from freescode_lsp.mesh.registry.auth import OperatorTokens, bearer_token
from freescode_lsp.mesh.registry.bodies import ApiError, error_response, read_json
from freescode_lsp.mesh.registry.database import StoreUnavailable
from freescode_lsp.mesh.registry.directory import Directory, model_json
from freescode_lsp.mesh.registry.heartbeats import HeartbeatBatcher
from freescode_lsp.mesh.registry.node_probe import REGISTRY_HEADER
from freescode_lsp.mesh.registry.probe_process import ProbeProcess
from freescode_lsp.mesh.registry.probe_rounds import ChallengesBusy, Prober, RegistrySettings
from freescode_lsp.mesh.registry.records import (
    CatalogModel,
    Heartbeat,
    Node,
    Registration,
)
from freescode_lsp.mesh.registry.store import Refused, RegistryStore

T = TypeVar("T")
GIL_SWITCH_S = 0.001
SETTLE_AT_EXIT_S = 5.0
ONLY_GATEWAYS = (
    "only a `freescode node serve` gateway registering with this operator's own token can prove it"
    " (it answers GET /freescode/ownership at the registered URL)"
)


class RegistryApp:
    """The HTTP handlers over one store and prober."""

    def __init__(
        self,
        store: RegistryStore,
        tokens: OperatorTokens,
        settings: RegistrySettings,
        resolver: Resolver = system_resolver,
        probe_process: bool = False,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.settings = settings
        self.resolver = resolver
        self.probe_process = ProbeProcess(store.target, settings, tokens.key_table()) if probe_process else None
        self.directory = Directory(store, settings.lease_s, settings.listing_max_age_s)
        self.heartbeats = HeartbeatBatcher(store.heartbeats)
        self.prober = Prober(store, settings, tokens.ownership_keys, resolver, self.directory.changed)

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

    async def _read_node(self, node_id: str) -> Node | None:
        """One node as stored, after the heartbeats answered so far are written (an answer is never read back stale)."""
        await self.heartbeats.settled()
        return await self._db(self.store.node, node_id)

    def _gone(self, node_id: str) -> None:
        """A heartbeat answered early found its node gone: the next one for it waits for its write (and is refused)."""
        self.directory.roster_changed()

    def operator(self, request: Request) -> str:
        """The operator the request's bearer token belongs to, else a 401."""
        token = bearer_token(request)
        challenge = {"WWW-Authenticate": "Bearer"}
        if token is None:
            raise ApiError(401, "an operator token is required: send 'Authorization: Bearer <token>'", challenge)
        operator = self.tokens.operator_for(token)
        if operator is None:
            raise ApiError(401, "the operator token is not valid", challenge)
        return operator

    def viewer(self, request: Request) -> str | None:
        """The operator asking, when the request carries a token (a wrong one is a 401), else None."""
        return None if "authorization" not in request.headers else self.operator(request)

    async def owned_node(self, request: Request) -> Node:
        """The node named in the path, if the request's operator registered it (401, 404, 403 otherwise)."""
        operator = self.operator(request)
        node_id = request.path_params["node_id"]
        node = await self._read_node(node_id)
        if node is None:
            raise ApiError(404, f"no node {node_id!r} is registered (it may have been purged); register again")
        if node.owner != operator:
            raise ApiError(403, f"node {node_id!r} belongs to another operator")
        return node

    async def health(self, request: Request) -> Response:
        """Liveness of the registry itself."""
        return JSONResponse({"status": "ok"})

    async def list_models(self, request: Request) -> Response:
        """The catalog, each model with its available hosts."""
        view = await self.directory.view()
        return Response(view.models_body(), media_type="application/json")

    async def get_model(self, request: Request) -> Response:
        """One catalog model with its available hosts."""
        model_id = request.path_params["model_id"]
        view = await self.directory.view()
        model = view.by_id.get(model_id)
        if model is None:
            raise ApiError(404, f"unknown model {model_id!r}; GET /v1/models lists the catalog")
        return Response(view.model_body(model), media_type="application/json")

    async def add_model(self, request: Request) -> Response:
        """An operator adds a model to the catalog."""
        operator = self.operator(request)
        model = CatalogModel.from_json(await read_json(request), operator)
        if not await self._db(self.store.add_model, model):
            raise ApiError(409, f"model {model.id!r} is already in the catalog")
        self.directory.invalidate()
        return JSONResponse(model_json(model, []), status_code=201)

    async def list_nodes(self, request: Request) -> Response:
        """Every registration with its probe state."""
        viewer = self.viewer(request)
        now = time.time()
        await self.heartbeats.settled()
        nodes = await self._db(self.store.nodes)
        lease_s = self.settings.lease_s
        return JSONResponse({"data": [node.status_json(now, lease_s, node.owner == viewer) for node in nodes]})

    async def get_node(self, request: Request) -> Response:
        """One registration with its probe state."""
        viewer = self.viewer(request)
        node_id = request.path_params["node_id"]
        node = await self._read_node(node_id)
        if node is None:
            raise ApiError(404, f"no node {node_id!r} is registered")
        return JSONResponse(node.status_json(time.time(), self.settings.lease_s, node.owner == viewer))

    async def register_node(self, request: Request) -> Response:
        """A node gateway registers; the node is probed right away."""
        operator = self.operator(request)
        body = await read_json(request)
        known = [model.id for model in await self._db(self.store.catalog)]
        registration = Registration.from_json(body, known)
        settings = self.settings
        url = parse_node_url(registration.url)
        try:
            addresses = await allowed_addresses(url, settings.addresses, self.resolver, settings.probe_timeout_s)
        except AddressError as exc:
            raise ApiError(422, f"'url' {exc}") from None
        keys = endpoint_keys(url, addresses)
        refused = await self._db(self.store.refusal, operator, registration.url, keys, settings.max_nodes_per_operator)
        if refused is not None:
            raise ApiError(409, refused)
        try:
            failed = await self.prober.prove(url, addresses[0], operator)
        except ChallengesBusy as exc:
            raise ApiError(429, str(exc), {"Retry-After": "5"}) from None
        if failed is not None:
            raise ApiError(403, f"{url} did not prove that operator {operator!r} runs it ({failed}); {ONLY_GATEWAYS}")
        limit = settings.max_nodes_per_operator
        try:
            node_id, taken_from = await self._db(self.store.register, operator, registration, keys, time.time(), limit)
        except Refused as exc:
            raise ApiError(409, str(exc)) from None
        self.directory.roster_changed()
        if taken_from:
            _log(f"{url} now belongs to operator {operator!r}, whose node proved it runs it (was {', '.join(taken_from)})")
        self.prober.probe_soon(node_id)
        lease_s = settings.lease_s
        return JSONResponse({"node_id": node_id, "lease_s": lease_s, "heartbeat_interval_s": lease_s / 3}, status_code=201)

    async def heartbeat(self, request: Request) -> Response:
        """The owning operator renews a node's lease and reports its load and speed, in one write."""
        operator = self.operator(request)
        node_id = request.path_params["node_id"]
        beat = Heartbeat.from_json(await read_json(request, allow_empty=True))
        now = time.time()
        known = self.directory.known(node_id)
        node = None
        if known is not None and known.owner == operator:
            node = self.heartbeats.beat_early(known, beat, now, self._gone)
        if node is None:
            node = await self.heartbeats.beat(node_id, operator, beat, now)
        if node is None:
            await self.owned_node(request)
            raise ApiError(404, f"no node {node_id!r} is registered (it may have been purged); register again")
        listed = [m for m in node.models if node.unlisted_reason(m, now, math.inf) is None]
        self.directory.renewed(node, bool(listed))
        return JSONResponse({"node_id": node.node_id, "lease_s": self.settings.lease_s, "listed": listed})

    async def deregister(self, request: Request) -> Response:
        """The owning operator removes a node."""
        node = await self.owned_node(request)
        await self._db(self.store.delete, node.node_id)
        self.directory.roster_changed()
        self.directory.invalidate()
        return JSONResponse({"node_id": node.node_id, "deleted": True})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Run the prober (its rounds in a child process, when asked), and listen for other writers' changes."""
        rounds = self.probe_process
        await self.prober.start(periodic=rounds is None)
        tasks = [asyncio.create_task(self.store.database.watch(self.directory.roster_changed))]
        if rounds is not None:
            tasks.append(asyncio.create_task(rounds.run()))
        try:
            yield
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heartbeats.settled(), SETTLE_AT_EXIT_S)
            if rounds is not None:
                await rounds.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.prober.stop()

    def starlette(self) -> Starlette:
        """The ASGI app."""
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/v1/models", self.list_models, methods=["GET"]),
            Route("/v1/models/{model_id:path}", self.get_model, methods=["GET"]),
            Route("/v1/catalog", self.add_model, methods=["POST"]),
            Route("/v1/nodes", self.list_nodes, methods=["GET"]),
            Route("/v1/nodes", self.register_node, methods=["POST"]),
            Route("/v1/nodes/{node_id}", self.get_node, methods=["GET"]),
            Route("/v1/nodes/{node_id}", self.deregister, methods=["DELETE"]),
            Route("/v1/nodes/{node_id}/heartbeat", self.heartbeat, methods=["POST"]),
        ]
        handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
            ApiError: _api_error,
            StoreUnavailable: _store_unavailable,
            HTTPException: _http_error,
            Exception: _internal_error,
        }
        middleware = [Middleware(MarkedAsRegistry)]
        return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware, lifespan=self.lifespan)


class MarkedAsRegistry:
    """Adds the registry header to every answer, so no registry ever passes a probe as a node."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (REGISTRY_HEADER.encode(), b"1")]}
            await send(message)

        await self.app(scope, receive, marked)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    _log(str(exc))
    message = "the registry's database is unavailable; retry shortly or use another registry"
    return error_response(503, message, {"Retry-After": "1"})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no such endpoint: {request.url.path}", 405: f"{request.method} is not allowed here"}
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)), exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    _log(f"internal error: {type(exc).__name__}: {exc}")
    return error_response(500, "internal error in the registry")


def _log(line: str) -> None:
    print(f"freescode registry: {line}", file=sys.stderr, flush=True)


def serve(
    store: RegistryStore,
    tokens: OperatorTokens,
    settings: RegistrySettings,
    sock: socket.socket,
) -> None:
    """Serve the registry on a bound socket until SIGINT or SIGTERM, then shut down cleanly."""
    import uvicorn

    from freescode_lsp.mesh.serving import QuietServer, serve_on_fast_loop
    from freescode_lsp.mesh.serving_deadlines import Deadlines, deadline_protocol, fast_base

    def log(line: str) -> None:
        print(f"freescode registry: {line}", file=sys.stderr, flush=True)

    protocol = deadline_protocol(Deadlines(settings.header_timeout_s, settings.body_timeout_s, log), fast_base())
    app = RegistryApp(store, tokens, settings, probe_process=True).starlette()
    config = uvicorn.Config(app, http=protocol, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    # The store's worker threads hand the GIL back and forth with the event loop at every SQLite step; a thread
    # waiting for it waits up to this long, 5 ms by default, which added up to tens of ms on a heartbeat batch.
    sys.setswitchinterval(GIL_SWITCH_S)
    serve_on_fast_loop(QuietServer(config), sock)
