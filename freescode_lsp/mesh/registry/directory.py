"""The listings a registry replica answers from: one view of the catalog and its listed hosts, at most MAX_AGE_S old.

A view is read from the store in one go and serves every listing until it goes stale: at once after a
client's own deletion or catalog change, MIN_REFRESH_S after a registration, a probe that changed a node's
listing or another replica's NOTIFY (so a burst of them costs one read), and after MAX_AGE_S, which bounds
how old another replica's heartbeats may look (this replica's own are shown in place at once) and how long a
node whose lease ran out may still be listed. Requests that find it stale share one read.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from freescode_lsp.mesh.registry.records import CatalogModel, Node
from freescode_lsp.mesh.registry.store import RegistryStore

MAX_AGE_S = 1.0
MIN_REFRESH_S = 0.2


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


class View:
    """The catalog and, per model, the hosts listed at one moment, cheapest first, each host serialized once."""

    def __init__(
        self, catalog: list[CatalogModel], nodes: list[Node], taken_at: float, lease_s: float, max_age_s: float, generation: int
    ) -> None:
        self.catalog = catalog
        self.by_id = {model.id: model for model in catalog}
        self.taken_at = taken_at
        self.generation = generation
        self.expires_at = taken_at + max_age_s
        found: dict[str, list[Node]] = {}
        for node in nodes:
            for model in node.models:
                if node.unlisted_reason(model, taken_at, lease_s, False) is None:
                    found.setdefault(model, []).append(node)
        self.order = {
            model: [node.node_id for node in sorted(hosts, key=lambda n: (n.price_per_1k, n.url))]
            for model, hosts in found.items()
        }
        self.models_of = {node.node_id: node.models for hosts in found.values() for node in hosts}
        self.listed = set(self.models_of)
        self.hosts = {node.node_id: _compact(node.host_json()) for hosts in found.values() for node in hosts}
        self._bodies: dict[str, bytes] = {}
        self._all: bytes | None = None

    def renew(self, node: Node) -> None:
        """Show a heartbeat this replica just stored (metrics, last_seen): one host serialized again."""
        self.hosts[node.node_id] = _compact(node.host_json())
        for model in self.models_of.get(node.node_id, ()):
            self._bodies.pop(model, None)
        self._all = None

    def model_body(self, model: CatalogModel) -> bytes:
        """One model with its hosts, as JSON."""
        body = self._bodies.get(model.id)
        if body is None:
            head = _compact(model_json(model, []))
            hosts = b",".join(self.hosts[node_id] for node_id in self.order.get(model.id, ()))
            body = self._bodies[model.id] = head[: -len(b"[]}")] + b"[" + hosts + b"]}"
        return body

    def models_body(self) -> bytes:
        """The `/v1/models` answer, as JSON."""
        if self._all is None:
            self._all = b'{"object":"list","data":[' + b",".join(self.model_body(m) for m in self.catalog) + b"]}"
        return self._all


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Directory:
    """Keeps the current view and reads a new one from the store when it is stale."""

    def __init__(self, store: RegistryStore, lease_s: float, max_age_s: float = MAX_AGE_S) -> None:
        self.store = store
        self.lease_s = lease_s
        self.max_age_s = max_age_s
        self.reads = 0
        self._view: View | None = None
        self._generation = 0
        self._changed_at = 0.0
        self._reading: asyncio.Future[View] | None = None

    def invalidate(self) -> None:
        """A client's own change (a deletion, a catalog model): listings from now on come from a view read after it."""
        self._generation += 1

    def changed(self) -> None:
        """A change listings must show soon (a probe's outcome, a registration, another replica's news): within MIN_REFRESH_S."""
        self._changed_at = time.time()

    def renewed(self, node: Node, listed: bool) -> None:
        """A heartbeat this replica stored: shown in place when the view lists the node, else soon if it is now listed."""
        view = self._view
        if view is not None and node.node_id in view.listed:
            view.renew(node)
        elif listed:
            self.changed()

    def _stale(self, view: View | None, wanted: int) -> bool:
        if view is None or view.generation < wanted:
            return True
        now = time.time()
        return now >= view.expires_at or (self._changed_at >= view.taken_at and now >= view.taken_at + MIN_REFRESH_S)

    async def view(self) -> View:
        """A view not stale now: the current one, or a new one read once for every caller waiting."""
        wanted = self._generation
        view = self._view
        while self._stale(view, wanted):
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._read())
                self._reading.add_done_callback(self._done)
            view = await asyncio.shield(self._reading)
            if view.generation >= wanted:
                break
        assert view is not None
        return view

    def _done(self, future: asyncio.Future[View]) -> None:
        self._reading = None
        if not future.cancelled():
            future.exception()

    async def _read(self) -> View:
        generation = self._generation
        now = time.time()
        catalog = await asyncio.to_thread(self.store.catalog)
        nodes = await asyncio.to_thread(self.store.listable, now - self.lease_s)
        view = View(catalog, nodes, now, self.lease_s, self.max_age_s, generation)
        self.reads += 1
        if self._view is None or self._view.generation <= generation:
            self._view = view
        return view
