"""The node gateway: an OpenAI-compatible front for one engine that checks keys, limits, counts and registers.

    GET /health           200 {model, engine: "ok", in_flight, queued, engine_answered_s_ago} while the engine is
                          fine, else 503 with the reason; answered from what the gateway already knows (the
                          engine child alive, its last answer), never by asking the engine
    GET /metrics          Prometheus text: requests, tokens, errors, time to first token, load, connections
    GET /v1/models        forwarded to the engine
    POST /v1/chat/completions, /v1/completions
                          forwarded to the engine; answers stream back chunk by chunk; a streamed request always
                          asks the engine for usage (stream_options.include_usage), which is what is billed; an
                          engine stream that ends before its end marker ([DONE] or a finish reason) is broken off
                          for the client too; a non-streamed answer is read whole (see tally.MAX_WHOLE_BODY)
                          so that its usage is billed, or refused with 502; a body whose `stream` is not a
                          boolean or whose `stream_options` is not an object is answered 400. Any other path,
                          dot segments resolved, is 404.

With client keys configured, /v1 requests need `Authorization: Bearer <key>`; the registry's probe key is
accepted too. A POST's body is read whole first, within `body_timeout_s` and under one byte budget for every
body being read or waiting (BODY_BUDGET_BYTES; over it, 503); only then does the request take a slot or a
place in the queue. At most `max_concurrent` POSTs are in flight and `queue` wait; more get 429 with
Retry-After. A client that leaves while queued is never sent to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from attrs import define, field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from freescode_lsp.mesh.node.engine import ManagedEngine
from freescode_lsp.mesh.node.health import CHECK_INTERVAL_S, EngineWatch
from freescode_lsp.mesh.node.intake import (
    BodyBudget,
    BodyProblem,
    declared_length,
    read_body,
    served_endpoint,
    stream_problem,
)
from freescode_lsp.mesh.node.keys import ClientKeys
from freescode_lsp.mesh.node.ledger import NodeLedger
from freescode_lsp.mesh.node.limits import Busy, Limiter
from freescode_lsp.mesh.node.metrics import Metrics, endpoint_label
from freescode_lsp.mesh.node.ownership import ownership_route
from freescode_lsp.mesh.node.proxy import (
    NOT_PASSED,
    ProxyStream,
    error_response,
    passed_headers,
    until_disconnected,
)
from freescode_lsp.mesh.node.registrar import Listing, Load, Registrar, log
from freescode_lsp.mesh.node.tally import Tally, estimate_prompt_tokens
from freescode_lsp.mesh.registry.auth import bearer_token
from freescode_lsp.mesh.serving_guard import ConnectionBook
from freescode_lsp.wire import normalize_base_url
from freescode_lsp.wire.http_client import tls_context
from freescode_lsp.wire.registry_client import RegistryClient

MAX_BODY_BYTES = 16 * 1024 * 1024
BODY_BUDGET_BYTES = 2 * MAX_BODY_BYTES
BODY_TIMEOUT_S = 30.0
ENGINE_READ_TIMEOUT_S = 300.0
HEALTH_TIMEOUT_S = 3.0
ENGINE_CONNECT_TIMEOUT_S = 10.0
FORWARDED_REQUEST_HEADERS = ("content-type", "accept")


@define(frozen=True)
class GatewayOptions:
    """What the gateway serves and how."""

    model: str
    engine_url: str
    price_per_1k: float = 0.0
    context: int = 4096
    max_concurrent: int = 1
    queue: int = 8
    exclusive: bool = False
    engine_api_key: str | None = field(default=None, repr=False)
    body_timeout_s: float = BODY_TIMEOUT_S


@define(frozen=True)
class RegistryTarget:
    """Where and as whom the gateway registers."""

    registry_url: str
    token: str
    public_url: str


def new_probe_key() -> str:
    """A fresh key for the registry's probes."""
    return f"probe-{secrets.token_urlsafe(24)}"


class Gateway:
    """The HTTP handlers over one engine, key set, limiter, ledger and metrics.

    An `exclusive` engine (llama-cpp-python's server) holds one lock for every request, /v1/models included;
    while it generates, /v1/models is answered from its last answer and the engine is not checked.
    """

    def __init__(
        self,
        options: GatewayOptions,
        keys: ClientKeys,
        ledger: NodeLedger,
        engine: ManagedEngine | None = None,
        registration: RegistryTarget | None = None,
    ) -> None:
        self.options = options
        self.keys = keys
        self.ledger = ledger
        self.engine = engine
        self.registration = registration
        self.limiter = Limiter(options.max_concurrent, options.queue)
        self.metrics = Metrics(options.model)
        self.watch = EngineWatch(engine)
        self.bodies = BodyBudget(BODY_BUDGET_BYTES)
        self.connections = ConnectionBook()
        self.adds_stream_options = True
        self.models_answer: tuple[int, bytes, list[tuple[bytes, bytes]]] | None = None
        self.base_url = normalize_base_url(options.engine_url).removesuffix("/v1")
        self._client: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        """The client for the engine."""
        assert self._client is not None, "the gateway is not running"
        return self._client

    def load(self) -> Load:
        """The load and speed a heartbeat reports."""
        return Load(self.limiter.load, self.metrics.recent_ttft_ms(), self.metrics.recent_tokens_per_s())

    async def _check_engine(self) -> None:
        """Ask the engine for its model list once, and note what came back."""
        try:
            response = await self.http().get(f"{self.base_url}/v1/models", timeout=HEALTH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            self.watch.failed(f"the engine does not answer: {type(exc).__name__}: {exc}")
            return
        if response.status_code != 200:
            self.watch.failed(f"the engine answered /v1/models with {response.status_code}")
            return
        self.watch.answered()
        self._keep_models_answer(response)

    async def _watch_engine(self) -> None:
        """Check the engine when it has not answered for a while, never while an exclusive engine generates."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S / 2)
            if self.watch.due() and not (self.options.exclusive and self.limiter.in_flight):
                await self._check_engine()

    def _note_engine_status(self, status: int) -> None:
        if status < 500:
            self.watch.answered()
        else:
            self.watch.failed(f"the engine answered {status}")

    def _keep_models_answer(self, response: httpx.Response) -> None:
        if response.status_code == 200:
            self.models_answer = (200, response.content, list(response.headers.raw))

    async def health(self, request: Request) -> Response:
        """200 while the engine is fine as far as the gateway knows, 503 with the reason otherwise; no engine call."""
        problem = self.watch.problem()
        since = self.watch.seconds_since_answer()
        body: dict[str, Any] = {
            "model": self.options.model,
            "engine": "ok" if problem is None else "unavailable",
            "in_flight": self.limiter.in_flight,
            "queued": self.limiter.waiting,
            "engine_answered_s_ago": None if since is None else round(since, 1),
        }
        if problem is not None:
            body["error"] = problem
        return Response(json.dumps(body), status_code=200 if problem is None else 503, media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        """The Prometheus text exposition."""
        book = self.connections
        text = self.metrics.prometheus(self.limiter.in_flight, self.limiter.waiting, book.open, book.closed)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def forward(self, request: Request) -> Response:
        """Check the key and the endpoint, read the body, admit, then pass the request to the engine."""
        path = request.path_params["path"]
        client = self.keys.client_for(bearer_token(request))
        if client is None:
            self.metrics.request(path, 401)
            return error_response(
                401, "a client key is required: send 'Authorization: Bearer <key>'", {"WWW-Authenticate": "Bearer"}
            )
        endpoint = served_endpoint(request.method, path)
        if endpoint is None:
            self.metrics.request(path, 404)
            return error_response(404, f"this node does not serve {request.method} /v1/{path}")
        if request.method == "GET":
            return await self._forward_get(request, endpoint)
        declared = declared_length(request.headers.get("content-length"))
        try:
            body = await read_body(request.receive, self.bodies, MAX_BODY_BYTES, self.options.body_timeout_s, declared)
        except BodyProblem as exc:
            return self._refused_body(endpoint, exc)
        try:
            return await self._admit_and_forward(request, endpoint, body, client)
        finally:
            self.bodies.give(len(body))

    def _refused_body(self, endpoint: str, exc: BodyProblem) -> Response:
        """The answer to a body that could not be read whole; the connection closes, since the rest is unread."""
        self.metrics.request(endpoint, exc.status or 499)
        if exc.status is None:
            self.metrics.error("client_disconnected")
            return Response(status_code=499)
        headers = {"Connection": "close", **({"Retry-After": "1"} if exc.status == 503 else {})}
        return error_response(exc.status, str(exc), headers)

    async def _admit_and_forward(self, request: Request, endpoint: str, body: bytes, client: str) -> Response:
        """Wait for a slot (429 when the queue is full; nothing if the client leaves meanwhile), then forward."""
        try:
            admitted = await self.limiter.acquire_unless(until_disconnected(request.receive))
        except Busy as exc:
            self.metrics.request(endpoint, 429)
            return error_response(429, str(exc), {"Retry-After": str(exc.retry_after_s)})
        if not admitted:
            self.metrics.request(endpoint, 499)
            self.metrics.error("client_disconnected")
            return Response(status_code=499)
        started = time.monotonic()
        try:
            return await self._forward_post(request, endpoint, body, client, started)
        except BaseException:
            self.limiter.release(time.monotonic() - started)
            raise

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {name: request.headers[name] for name in FORWARDED_REQUEST_HEADERS if name in request.headers}
        headers["accept-encoding"] = "identity"
        return headers

    async def _forward_get(self, request: Request, endpoint: str) -> Response:
        if endpoint == "models" and self.options.exclusive and self.limiter.in_flight and self.models_answer:
            status, content, raw = self.models_answer
        else:
            try:
                upstream = await self.http().get(
                    f"{self.base_url}/v1/{endpoint}",
                    params=request.query_params,
                    headers=self._headers(request),
                    timeout=httpx.Timeout(60.0, connect=ENGINE_CONNECT_TIMEOUT_S),
                )
            except httpx.HTTPError as exc:
                return self._unreachable(endpoint, exc)
            self._note_engine_status(upstream.status_code)
            if endpoint == "models":
                self._keep_models_answer(upstream)
            status, content, raw = upstream.status_code, upstream.content, list(upstream.headers.raw)
        self.metrics.request(endpoint, status)
        response = Response(content, status_code=status)
        response.raw_headers = [
            *passed_headers(raw, NOT_PASSED | {"content-encoding"}),
            (b"content-length", str(len(content)).encode()),
        ]
        return response

    def _unreachable(self, endpoint: str, exc: Exception) -> Response:
        self.watch.failed(f"the engine does not answer: {type(exc).__name__}: {exc}")
        self.metrics.error("engine_unreachable")
        self.metrics.request(endpoint, 502)
        log(f"the engine at {self.base_url} does not answer: {type(exc).__name__}: {exc}")
        return error_response(502, f"the node's engine does not answer: {type(exc).__name__}")

    async def _send(self, request: Request, endpoint: str, content: bytes) -> httpx.Response:
        built = self.http().build_request(
            "POST",
            f"{self.base_url}/v1/{endpoint}",
            params=request.query_params,
            content=content,
            headers=self._headers(request),
            timeout=httpx.Timeout(None, connect=ENGINE_CONNECT_TIMEOUT_S, read=ENGINE_READ_TIMEOUT_S),
        )
        return await self.http().send(built, stream=True)

    async def _open(self, request: Request, endpoint: str, raw: bytes, parsed: Any) -> httpx.Response:
        """Send the request asking for usage in the stream, whatever the client asked; refused, send it as it came.

        Only when the body as it came, without stream_options, is then accepted does the gateway stop asking.
        """
        wants_stream = isinstance(parsed, dict) and parsed.get("stream") is True
        options = parsed.get("stream_options") if wants_stream else None
        if not (wants_stream and self.adds_stream_options and isinstance(options, (dict, type(None)))):
            return await self._send(request, endpoint, raw)
        asked = {**(options or {}), "include_usage": True}
        with_usage = json.dumps({**parsed, "stream_options": asked}).encode()
        upstream = await self._send(request, endpoint, with_usage)
        if upstream.status_code not in (400, 422):
            return upstream
        refusal = await upstream.aread()
        await upstream.aclose()
        unchanged = await self._send(request, endpoint, raw)
        if b"stream_options" in refusal and options is None and unchanged.status_code < 400:
            log("the engine refused stream_options; forwarding requests unchanged from now on")
            self.adds_stream_options = False
        return unchanged

    async def _forward_post(self, request: Request, endpoint: str, raw: bytes, client: str, started: float) -> Response:
        try:
            parsed = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = None
        if (problem := stream_problem(parsed)) is not None:
            self.limiter.release(time.monotonic() - started)
            self.metrics.request(endpoint, 400)
            return error_response(400, problem)
        try:
            upstream = await self._open(request, endpoint, raw, parsed)
        except httpx.HTTPError as exc:
            self.limiter.release(time.monotonic() - started)
            return self._unreachable(endpoint, exc)
        self._note_engine_status(upstream.status_code)
        streaming = "text/event-stream" in upstream.headers.get("content-type", "")
        tally = Tally(streaming, estimate_prompt_tokens(parsed))

        async def on_close(outcome: str) -> None:
            ended = time.monotonic()
            self.limiter.release(ended - started)
            refused = outcome == "engine_answer_refused"
            self.metrics.request(endpoint, 502 if refused else upstream.status_code)
            if outcome != "done":
                self.metrics.error(outcome)
            if upstream.status_code >= 400 or refused:
                return
            counted = await asyncio.to_thread(tally.finish)
            self.metrics.served(counted.prompt_tokens, counted.completion_tokens)
            if tally.first_piece_at is not None:
                self.metrics.first_token(tally.first_piece_at - started)
                self.metrics.generation(counted.completion_tokens, ended - tally.first_piece_at)
            try:
                await asyncio.to_thread(
                    self.ledger.record,
                    client,
                    self.options.model,
                    endpoint_label(endpoint),
                    counted.prompt_tokens,
                    counted.completion_tokens,
                    self.options.price_per_1k,
                )
            except sqlite3.Error as exc:
                log(f"could not write the ledger {self.ledger.path}: {exc}")

        return ProxyStream(upstream, tally, on_close)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Open the engine client, note the engine's model list, and keep the registration alive while serving."""
        key = self.options.engine_api_key
        self._client = httpx.AsyncClient(
            verify=tls_context(),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            headers={"Authorization": f"Bearer {key}"} if key else None,
        )
        await self._check_engine()
        watcher = asyncio.ensure_future(self._watch_engine())
        registrar = None
        if self.registration is not None:
            listing = Listing(
                self.registration.public_url,
                self.options.model,
                self.options.price_per_1k,
                self.options.context,
                self.keys.probe_key,
            )
            client = RegistryClient(self.registration.registry_url, token=self.registration.token)
            registrar = Registrar(client, listing, self.load)
            registrar.start()
        try:
            yield
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            if registrar is not None:
                await registrar.stop()
            await self._client.aclose()

    def starlette(self) -> Starlette:
        """The ASGI app."""
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics_text, methods=["GET"]),
            ownership_route(self.registration.token if self.registration else None),
            Route("/v1/{path:path}", self.forward, methods=["GET", "POST"]),
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)
