"""The registry service: the model catalog and, per model, the live hosts serving it, kept in SQLite.

Endpoints (JSON; errors are `{"error": {"message", "type", "code"}}`):

    GET    /health                           {"status": "ok"}
    GET    /v1/models                        {"object": "list", "data": [model, ...]}
    GET    /v1/models/{id}                   model: id, context, price_per_1k, specialties, available_hosts
    POST   /v1/catalog                       operator: add a model {id, context, price_per_1k?, specialties?}
    GET    /v1/nodes                         every registration with its probe state and why models are unlisted
    GET    /v1/nodes/{node_id}               one registration
    POST   /v1/nodes                         operator: {url, models, price_per_1k, context, operator?, probe_key?}
    POST   /v1/nodes/{node_id}/heartbeat     owning operator: {load?, ttft_ms?, tokens_per_s?}
    DELETE /v1/nodes/{node_id}               owning operator

Operators send `Authorization: Bearer <token>`; the token decides who owns a node, while `operator` in a
registration is only a label. `probe_key` is the API key used to probe a node that checks client keys;
it is stored but never shown. A host is listed for a model while its lease is live
(heard from within lease_s), its last probe succeeded, and its own /v1/models lists the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import re
import secrets
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from attrs import define
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from freescode_lsp.engines.remote import (
    RemoteEngine,
    RemoteEngineError,
    normalize_base_url,
)
from freescode_lsp.mesh.catalog import BUILTIN_MODELS

T = TypeVar("T")
TOKENS_ENV = "FREESCODE_OPERATOR_TOKENS"
MAX_BODY_BYTES = 64 * 1024
MAX_MODELS_PER_NODE = 64
MAX_CONTEXT = 100_000_000
MAX_PRICE_PER_1K = 1_000.0
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}")
ERROR_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    422: "invalid_field",
}


class ApiError(Exception):
    """A request the registry refuses, with the HTTP status and message to answer."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON error body every refusal uses."""
    body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": status}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


class OperatorTokens:
    """The operator tokens the registry accepts, each mapped to the operator it identifies."""

    def __init__(self, pairs: Iterable[tuple[str | None, str]] = ()) -> None:
        self._entries: list[tuple[bytes, str]] = []
        for name, token in pairs:
            digest = hashlib.sha256(token.encode()).digest()
            self._entries.append((digest, name or f"operator-{digest.hex()[:12]}"))

    def __len__(self) -> int:
        return len(self._entries)

    def operator_for(self, token: str) -> str | None:
        """The operator a token belongs to, compared in constant time, or None."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for known, name in self._entries:
            if hmac.compare_digest(known, digest):
                found = name
        return found


def parse_tokens(text: str, separator: str = "\n") -> list[tuple[str | None, str]]:
    """`token` or `name:token` entries; blank entries and `#` comment lines are skipped."""
    pairs: list[tuple[str | None, str]] = []
    for raw in text.split(separator):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, colon, token = entry.partition(":")
        if colon and name.strip() and token.strip():
            pairs.append((name.strip(), token.strip()))
        else:
            pairs.append((None, entry))
    return pairs


def load_tokens(file: Path | None, env: Mapping[str, str]) -> OperatorTokens:
    """The tokens from the `--operator-tokens` file and the FREESCODE_OPERATOR_TOKENS variable."""
    pairs = parse_tokens(env.get(TOKENS_ENV, ""), ",")
    if file is not None:
        pairs += parse_tokens(file.read_text(encoding="utf-8"))
    return OperatorTokens(pairs)


@define(frozen=True)
class RegistrySettings:
    """How long leases last, how often nodes are probed, and when silent nodes are forgotten."""

    lease_s: float = 30.0
    probe_interval_s: float = 10.0
    probe_timeout_s: float = 3.0
    purge_after_s: float = 3600.0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request, allow_empty: bool = False) -> Any:
    """The request body parsed as JSON, refusing bodies over MAX_BODY_BYTES, invalid UTF-8 or JSON."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "the body is empty; send a JSON object")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


def json_object(body: Any) -> dict[str, Any]:
    """The body if it is a JSON object, else a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(body).__name__}")
    return body


def required(body: dict[str, Any], name: str) -> Any:
    """A field that must be present and not null."""
    if body.get(name) is None:
        raise ApiError(422, f"missing field {name!r}")
    return body[name]


def as_int(value: Any, name: str, low: int, high: int) -> int:
    """An integer between low and high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{name!r} must be an integer, not {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise ApiError(422, f"{name!r} must be between {low} and {high}, not {value}")
    return value


def as_number(value: Any, name: str, high: float = math.inf) -> float:
    """A finite number between 0 and high."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(422, f"{name!r} must be a number, not {json.dumps(value)[:40]}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > high:
        raise ApiError(422, f"{name!r} must be a number from 0 to {high:g}, not {value}")
    return number


def as_text(value: Any, name: str, max_length: int) -> str:
    """A non-empty string of at most max_length characters."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{name!r} must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(422, f"{name!r} is longer than {max_length} characters")
    return value.strip()


def as_text_list(value: Any, name: str, max_items: int, max_length: int) -> list[str]:
    """A list of non-empty strings, duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise ApiError(422, f"{name!r} must be a list of strings")
    if len(value) > max_items:
        raise ApiError(422, f"{name!r} has more than {max_items} entries")
    return list(dict.fromkeys(as_text(item, f"{name}[]", max_length) for item in value))


def as_model_id(value: Any, name: str = "id") -> str:
    """A model id: letters, digits and . _ : / + -, at most 128 characters."""
    text = as_text(value, name, 128)
    if not MODEL_ID.fullmatch(text):
        raise ApiError(422, f"{name!r} {text!r} is not a model id (letters, digits and . _ : / + -)")
    return text


def as_node_url(value: Any) -> str:
    """An http(s) URL with a host and no credentials, query or fragment, as the node's root without /v1."""
    text = as_text(value, "url", 2048)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ApiError(422, f"'url' is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ApiError(422, f"'url' must start with http:// or https://, not {text[:60]!r}")
    if not parts.hostname:
        raise ApiError(422, "'url' has no host")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ApiError(422, "'url' must not carry credentials, a query or a fragment")
    if port == 0:
        raise ApiError(422, "'url' has port 0")
    return normalize_base_url(text).removesuffix("/v1")


@define(frozen=True)
class CatalogModel:
    """One model of the registry's catalog."""

    id: str
    context: int
    price_per_1k: float | None
    specialties: tuple[str, ...]
    added_by: str | None = None

    @classmethod
    def from_json(cls, raw: Any, operator: str) -> CatalogModel:
        """A model an operator adds: `{id, context, price_per_1k?, specialties?}`."""
        body = json_object(raw)
        price = body.get("price_per_1k")
        specialties = body.get("specialties")
        return cls(
            id=as_model_id(required(body, "id")),
            context=as_int(required(body, "context"), "context", 1, MAX_CONTEXT),
            price_per_1k=None if price is None else as_number(price, "price_per_1k", MAX_PRICE_PER_1K),
            specialties=tuple(as_text_list(specialties, "specialties", 32, 100)) if specialties is not None else (),
            added_by=operator,
        )


@define(frozen=True)
class Registration:
    """What a node gateway says about itself when it registers."""

    url: str
    models: tuple[str, ...]
    price_per_1k: float
    context: int
    operator: str | None
    probe_key: str | None

    @classmethod
    def from_json(cls, raw: Any, known: Iterable[str]) -> Registration:
        """A registration body checked field by field; every model must be in the catalog."""
        body = json_object(raw)
        url = as_node_url(required(body, "url"))
        models = as_text_list(required(body, "models"), "models", MAX_MODELS_PER_NODE, 128)
        if not models:
            raise ApiError(422, "'models' is empty; list the model ids the node serves")
        catalog = set(known)
        unknown = [model for model in models if model not in catalog]
        if unknown:
            raise ApiError(422, f"unknown model ids: {', '.join(unknown)}; add them to the catalog first")
        operator = body.get("operator")
        probe_key = body.get("probe_key")
        return cls(
            url=url,
            models=tuple(models),
            price_per_1k=as_number(required(body, "price_per_1k"), "price_per_1k", MAX_PRICE_PER_1K),
            context=as_int(required(body, "context"), "context", 1, MAX_CONTEXT),
            operator=None if operator is None else as_text(operator, "operator", 100),
            probe_key=None if probe_key is None else as_text(probe_key, "probe_key", 512),
        )


@define(frozen=True)
class Heartbeat:
    """A node's current load and speed; fields left out keep their last value."""

    load: float | None = None
    ttft_ms: float | None = None
    tokens_per_s: float | None = None

    @classmethod
    def from_json(cls, raw: Any) -> Heartbeat:
        """A heartbeat body: every field optional, each a non-negative number."""
        body = json_object(raw)
        values = {
            name: None if body.get(name) is None else as_number(body[name], name)
            for name in ("load", "ttft_ms", "tokens_per_s")
        }
        return cls(**values)


@define(frozen=True)
class Node:
    """A node as stored: its registration, lease, last metrics and last probe."""

    node_id: str
    owner: str
    operator: str | None
    url: str
    models: tuple[str, ...]
    price_per_1k: float
    context: int
    probe_key: str | None
    revision: int
    registered_at: float
    last_seen: float
    load: float | None
    ttft_ms: float | None
    tokens_per_s: float | None
    probed_at: float | None
    probe_ok: bool
    served: tuple[str, ...]
    probe_error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Node:
        """A node from its `nodes` row."""
        values = dict(row)
        values["models"] = tuple(json.loads(values["models"]))
        values["served"] = tuple(json.loads(values["served"] or "[]"))
        values["probe_ok"] = bool(values["probe_ok"])
        return cls(**values)

    def live(self, now: float, lease_s: float) -> bool:
        """Whether the node was heard from within the lease."""
        return now - self.last_seen <= lease_s

    def unlisted_reason(self, model: str, now: float, lease_s: float) -> str | None:
        """Why the node is not listed for a model it claims, or None when it is listed."""
        if not self.live(now, lease_s):
            return f"lease expired: not heard from for {now - self.last_seen:.1f} s (lease {lease_s:g} s)"
        if self.probed_at is None:
            return "not probed yet"
        if not self.probe_ok:
            return f"last probe failed: {self.probe_error}"
        if model not in self.served:
            served = ", ".join(self.served) or "nothing"
            return f"the node's /v1/models does not list it (it lists: {served})"
        return None

    def host_json(self) -> dict[str, Any]:
        """The node as one entry of a model's `available_hosts`."""
        return {
            "url": self.url,
            "price_per_1k": self.price_per_1k,
            "context": self.context,
            "load": self.load,
            "ttft_ms": self.ttft_ms,
            "tokens_per_s": self.tokens_per_s,
            "last_seen": self.last_seen,
        }

    def status_json(self, now: float, lease_s: float) -> dict[str, Any]:
        """The node with its probe state and, per claimed model, whether and why it is listed."""
        reasons = {model: self.unlisted_reason(model, now, lease_s) for model in self.models}
        return {
            "node_id": self.node_id,
            "operator": self.owner,
            "operator_label": self.operator,
            **self.host_json(),
            "models": list(self.models),
            "registered_at": self.registered_at,
            "live": self.live(now, lease_s),
            "probed_at": self.probed_at,
            "probe_ok": self.probe_ok,
            "probe_error": self.probe_error,
            "served": list(self.served),
            "listed": [model for model, reason in reasons.items() if reason is None],
            "unlisted": {model: reason for model, reason in reasons.items() if reason is not None},
        }


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalog (
    id TEXT PRIMARY KEY, context INTEGER NOT NULL, price_per_1k REAL, specialties TEXT NOT NULL,
    added_by TEXT, added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY, owner TEXT NOT NULL, operator TEXT, url TEXT NOT NULL, models TEXT NOT NULL,
    price_per_1k REAL NOT NULL, context INTEGER NOT NULL, probe_key TEXT, revision INTEGER NOT NULL,
    registered_at REAL NOT NULL, last_seen REAL NOT NULL, load REAL, ttft_ms REAL, tokens_per_s REAL,
    probed_at REAL, probe_ok INTEGER NOT NULL DEFAULT 0, served TEXT, probe_error TEXT
);
CREATE INDEX IF NOT EXISTS nodes_url ON nodes (url);
"""


class RegistryStore:
    """The catalog and node registrations in one SQLite file; every method is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._seed()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _seed(self) -> None:
        """Put the built-in models in the catalog the first time this database is opened."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM meta WHERE key = 'seeded'").fetchone():
                return
            for spec in BUILTIN_MODELS:
                db.execute(
                    "INSERT OR IGNORE INTO catalog VALUES (?, ?, ?, ?, NULL, ?)",
                    (spec.id, spec.context, spec.price_per_1k, json.dumps(list(spec.specialties)), time.time()),
                )
            db.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(time.time()),))

    def catalog(self) -> list[CatalogModel]:
        """Every catalog model, in the order they were added."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM catalog ORDER BY added_at, rowid").fetchall()
        return [
            CatalogModel(r["id"], r["context"], r["price_per_1k"], tuple(json.loads(r["specialties"])), r["added_by"])
            for r in rows
        ]

    def add_model(self, model: CatalogModel) -> bool:
        """Add a model to the catalog; False when the id is taken."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO catalog VALUES (?, ?, ?, ?, ?, ?)",
                (
                    model.id,
                    model.context,
                    model.price_per_1k,
                    json.dumps(list(model.specialties)),
                    model.added_by,
                    time.time(),
                ),
            )
            return cursor.rowcount == 1

    def nodes(self) -> list[Node]:
        """Every registration, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM nodes ORDER BY registered_at, node_id").fetchall()
        return [Node.from_row(row) for row in rows]

    def node(self, node_id: str) -> Node | None:
        """One registration, or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
        return Node.from_row(row) if row else None

    def register(self, owner: str, node: Registration, now: float, live_since: float) -> str | None:
        """Store a registration and return its node id; the same operator and URL keep their id.

        None when another operator's live registration holds the URL.
        """
        with self._transaction() as db:
            rows = db.execute("SELECT node_id, owner, last_seen FROM nodes WHERE url = ?", (node.url,)).fetchall()
            if any(r["owner"] != owner and r["last_seen"] >= live_since for r in rows):
                return None
            mine = [r["node_id"] for r in rows if r["owner"] == owner]
            node_id = mine[0] if mine else f"node-{secrets.token_hex(8)}"
            db.execute("DELETE FROM nodes WHERE url = ? AND node_id != ?", (node.url, node_id))
            values = (
                owner,
                node.operator,
                node.url,
                json.dumps(list(node.models)),
                node.price_per_1k,
                node.context,
                node.probe_key,
                now,
            )
            if mine:
                db.execute(
                    "UPDATE nodes SET owner = ?, operator = ?, url = ?, models = ?, price_per_1k = ?, context = ?,"
                    " probe_key = ?, last_seen = ?, revision = revision + 1, probed_at = NULL, probe_ok = 0,"
                    " served = NULL, probe_error = NULL WHERE node_id = ?",
                    (*values, node_id),
                )
            else:
                db.execute(
                    "INSERT INTO nodes (owner, operator, url, models, price_per_1k, context, probe_key, last_seen,"
                    " node_id, revision, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (*values, node_id, now),
                )
            return node_id

    def heartbeat(self, node_id: str, beat: Heartbeat, now: float) -> None:
        """Renew a node's lease and keep the metrics it sent."""
        with self._transaction() as db:
            db.execute(
                "UPDATE nodes SET last_seen = ?, load = COALESCE(?, load), ttft_ms = COALESCE(?, ttft_ms),"
                " tokens_per_s = COALESCE(?, tokens_per_s) WHERE node_id = ?",
                (now, beat.load, beat.ttft_ms, beat.tokens_per_s, node_id),
            )

    def delete(self, node_id: str) -> None:
        """Forget a registration."""
        with self._transaction() as db:
            db.execute("DELETE FROM nodes WHERE node_id = ?", (node_id,))

    def record_probe(self, node_id: str, revision: int, result: ProbeResult, now: float) -> None:
        """Keep a probe's outcome unless the node re-registered while it ran."""
        with self._transaction() as db:
            db.execute(
                "UPDATE nodes SET probed_at = ?, probe_ok = ?, served = ?, probe_error = ?"
                " WHERE node_id = ? AND revision = ?",
                (now, int(result.ok), json.dumps(list(result.served)), result.error, node_id, revision),
            )

    def purge(self, before: float) -> int:
        """Forget nodes not heard from since `before`; the number forgotten."""
        with self._transaction() as db:
            return db.execute("DELETE FROM nodes WHERE last_seen < ?", (before,)).rowcount


@define(frozen=True)
class ProbeResult:
    """What one probe of a node found."""

    ok: bool
    served: tuple[str, ...] = ()
    error: str | None = None


async def probe_node(url: str, probe_key: str | None, timeout_s: float, client: httpx.AsyncClient) -> ProbeResult:
    """Ask a node for its model list and its health."""
    engine = RemoteEngine(
        url, probe_key, connect_timeout_s=timeout_s, chunk_gap_timeout_s=timeout_s, client=client
    )
    try:
        served = await engine.list_models()
    except RemoteEngineError as exc:
        return ProbeResult(False, (), f"GET /v1/models failed: {exc}")
    if not await engine.health():
        return ProbeResult(False, tuple(served), "the health check failed")
    return ProbeResult(True, tuple(served))


class Prober:
    """Probes each node when it registers and every probe interval, and purges long-silent nodes."""

    def __init__(self, store: RegistryStore, settings: RegistrySettings, concurrency: int = 16) -> None:
        self.store = store
        self.settings = settings
        self._limit = asyncio.Semaphore(concurrency)
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP client and start the periodic loop."""
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._spawn(self._loop())

    async def stop(self) -> None:
        """Cancel every probe and close the client."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def probe_soon(self, node_id: str) -> None:
        """Probe one node in the background now."""
        self._spawn(self._probe_id(node_id))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_all()
            except (sqlite3.Error, OSError) as exc:
                print(f"freescode registry: probing failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            await asyncio.sleep(self.settings.probe_interval_s)

    async def probe_all(self) -> None:
        """Purge long-silent nodes, then probe every live one at once (bounded)."""
        settings = self.settings
        now = time.time()
        await asyncio.to_thread(self.store.purge, now - max(settings.purge_after_s, settings.lease_s))
        nodes = await asyncio.to_thread(self.store.nodes)
        live = [node for node in nodes if node.live(now, settings.lease_s)]
        await asyncio.gather(*(self._probe(node) for node in live))

    async def _probe_id(self, node_id: str) -> None:
        node = await asyncio.to_thread(self.store.node, node_id)
        if node is not None:
            await self._probe(node)

    async def _probe(self, node: Node) -> None:
        assert self._client is not None
        async with self._limit:
            try:
                result = await probe_node(node.url, node.probe_key, self.settings.probe_timeout_s, self._client)
            except (httpx.HTTPError, OSError, ValueError) as exc:
                result = ProbeResult(False, (), f"probe failed: {type(exc).__name__}: {exc}")
        await asyncio.to_thread(self.store.record_probe, node.node_id, node.revision, result, time.time())


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def model_json(model: CatalogModel, hosts: list[dict[str, Any]]) -> dict[str, Any]:
    """A catalog model with the hosts serving it now."""
    return {
        "id": model.id,
        "object": "model",
        "context": model.context,
        "price_per_1k": model.price_per_1k,
        "specialties": list(model.specialties),
        "available_hosts": hosts,
    }


class RegistryApp:
    """The HTTP handlers over one store and prober."""

    def __init__(self, store: RegistryStore, tokens: OperatorTokens, settings: RegistrySettings) -> None:
        self.store = store
        self.tokens = tokens
        self.settings = settings
        self.prober = Prober(store, settings)

    async def _db(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(call, *args)

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

    async def owned_node(self, request: Request) -> Node:
        """The node named in the path, if the request's operator registered it (401, 404, 403 otherwise)."""
        operator = self.operator(request)
        node_id = request.path_params["node_id"]
        node = await self._db(self.store.node, node_id)
        if node is None:
            raise ApiError(404, f"no node {node_id!r} is registered (it may have been purged); register again")
        if node.owner != operator:
            raise ApiError(403, f"node {node_id!r} belongs to another operator")
        return node

    async def hosts_by_model(self) -> dict[str, list[dict[str, Any]]]:
        """For each model, the hosts listed for it now, cheapest first."""
        now = time.time()
        hosts: dict[str, list[tuple[float, str, dict[str, Any]]]] = {}
        for node in await self._db(self.store.nodes):
            for model in node.models:
                if node.unlisted_reason(model, now, self.settings.lease_s) is None:
                    hosts.setdefault(model, []).append((node.price_per_1k, node.url, node.host_json()))
        return {model: [entry for *_, entry in sorted(found, key=lambda e: e[:2])] for model, found in hosts.items()}

    async def health(self, request: Request) -> Response:
        """Liveness of the registry itself."""
        return JSONResponse({"status": "ok"})

    async def list_models(self, request: Request) -> Response:
        """The catalog, each model with its available hosts."""
        hosts = await self.hosts_by_model()
        catalog = await self._db(self.store.catalog)
        return JSONResponse({"object": "list", "data": [model_json(m, hosts.get(m.id, [])) for m in catalog]})

    async def get_model(self, request: Request) -> Response:
        """One catalog model with its available hosts."""
        model_id = request.path_params["model_id"]
        catalog = {model.id: model for model in await self._db(self.store.catalog)}
        if model_id not in catalog:
            raise ApiError(404, f"unknown model {model_id!r}; GET /v1/models lists the catalog")
        hosts = await self.hosts_by_model()
        return JSONResponse(model_json(catalog[model_id], hosts.get(model_id, [])))

    async def add_model(self, request: Request) -> Response:
        """An operator adds a model to the catalog."""
        operator = self.operator(request)
        model = CatalogModel.from_json(await read_json(request), operator)
        if not await self._db(self.store.add_model, model):
            raise ApiError(409, f"model {model.id!r} is already in the catalog")
        return JSONResponse(model_json(model, []), status_code=201)

    async def list_nodes(self, request: Request) -> Response:
        """Every registration with its probe state."""
        now = time.time()
        nodes = await self._db(self.store.nodes)
        return JSONResponse({"data": [node.status_json(now, self.settings.lease_s) for node in nodes]})

    async def get_node(self, request: Request) -> Response:
        """One registration with its probe state."""
        node_id = request.path_params["node_id"]
        node = await self._db(self.store.node, node_id)
        if node is None:
            raise ApiError(404, f"no node {node_id!r} is registered")
        return JSONResponse(node.status_json(time.time(), self.settings.lease_s))

    async def register_node(self, request: Request) -> Response:
        """A node gateway registers; the node is probed right away."""
        operator = self.operator(request)
        body = await read_json(request)
        known = [model.id for model in await self._db(self.store.catalog)]
        registration = Registration.from_json(body, known)
        now = time.time()
        node_id = await self._db(self.store.register, operator, registration, now, now - self.settings.lease_s)
        if node_id is None:
            raise ApiError(409, f"{registration.url} is registered by another operator")
        self.prober.probe_soon(node_id)
        lease_s = self.settings.lease_s
        return JSONResponse(
            {"node_id": node_id, "lease_s": lease_s, "heartbeat_interval_s": lease_s / 3}, status_code=201
        )

    async def heartbeat(self, request: Request) -> Response:
        """The owning operator renews a node's lease and reports its load and speed."""
        node = await self.owned_node(request)
        beat = Heartbeat.from_json(await read_json(request, allow_empty=True))
        now = time.time()
        await self._db(self.store.heartbeat, node.node_id, beat, now)
        listed = [m for m in node.models if node.unlisted_reason(m, now, math.inf) is None]
        return JSONResponse({"node_id": node.node_id, "lease_s": self.settings.lease_s, "listed": listed})

    async def deregister(self, request: Request) -> Response:
        """The owning operator removes a node."""
        node = await self.owned_node(request)
        await self._db(self.store.delete, node.node_id)
        return JSONResponse({"node_id": node.node_id, "deleted": True})

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """Run the prober while the server runs."""
        await self.prober.start()
        try:
            yield
        finally:
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
            HTTPException: _http_error,
            Exception: _internal_error,
        }
        return Starlette(routes=routes, exception_handlers=handlers, lifespan=self.lifespan)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: f"no such endpoint: {request.url.path}", 405: f"{request.method} is not allowed here"}
    return error_response(exc.status_code, messages.get(exc.status_code, str(exc.detail)), exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    print(f"freescode registry: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return error_response(500, "internal error in the registry")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(128)
    return sock


def serve(
    store: RegistryStore,
    tokens: OperatorTokens,
    settings: RegistrySettings,
    sock: socket.socket,
) -> None:
    """Serve the registry on a bound socket until SIGINT or SIGTERM, then shut down cleanly."""
    import uvicorn

    from freescode_lsp.mesh.serving import QuietServer as Server

    app = RegistryApp(store, tokens, settings).starlette()
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    asyncio.run(Server(config).serve(sockets=[sock]))
