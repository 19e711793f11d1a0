"""The listings a registry replica answers from: one view of the catalog and its listed hosts, at most MAX_AGE_S old.

A view is read from the store and serves every listing; a newer one is read, while the current one still
answers, MIN_REFRESH_S after a registration, a probe that changed a node's listing or another replica's NOTIFY
(so a burst of them costs one read), and after MAX_AGE_S, which bounds how old another replica's heartbeats
may look and how long a node whose lease ran out may still be listed. This replica's own heartbeats are shown
in place, gathered and put into the view at most every SHOW_RENEWALS_S, so that a thousand heartbeats a second
do not make nearly every listing serialize every host list again. A client's own deletion or catalog change
is shown at once: its listings wait for a view read after it, as do all listings when no read succeeded for
twice MAX_AGE_S. Requests that wait share one read.

Most reads fetch only what changed: the ids of the nodes listable now (the database alone judges leases and
probes), and the rows probed, or heard from through another replica, since the last read (less SLACK_S, for
writes that committed late), plus any listable node not known yet. This replica's own heartbeats are not read
back: they are shown in place, and those stored while a read runs are put into its result. So such a read
costs one short row per node and a full row per change, and each host is serialized to JSON once per change;
every FULL_READ_EVERY-th read fetches every row, which bounds how stale a host's metrics can look whatever the
writers' clocks say.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

from freescode_lsp.mesh.registry.heartbeats import with_beat_of
from freescode_lsp.mesh.registry.listing_order import Orders, carried_over, orders_of
from freescode_lsp.mesh.registry.records import CatalogModel, Node
from freescode_lsp.mesh.registry.store import RegistryStore

MAX_AGE_S = 1.0
MIN_REFRESH_S = 0.2
SLACK_S = 1.0
FULL_READ_EVERY = 30
SHOW_RENEWALS_S = 0.1


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
    """The catalog and, per model, the hosts listed at one moment, in the order given (listing_order.py)."""

    def __init__(
        self,
        catalog: list[CatalogModel],
        orders: Orders,
        hosts: Mapping[str, bytes],
        taken_at: float,
        max_age_s: float,
        generation: int,
    ) -> None:
        self.catalog = catalog
        self.by_id = {model.id: model for model in catalog}
        self.taken_at = taken_at
        self.generation = generation
        self.expires_at = taken_at + max_age_s
        self.parts = {model: [hosts[node.node_id] for node in listed] for model, listed in orders.items()}
        self.indexes = {model: {node.node_id: index for index, node in enumerate(listed)} for model, listed in orders.items()}
        self.listed: set[str] = set().union(*self.indexes.values())
        self._bodies: dict[str, bytes] = {}
        self._all: bytes | None = None

    def renew(self, node_id: str, host: bytes) -> None:
        """Show a heartbeat this replica just stored (metrics, last_seen): one host replaced in place."""
        for model, indexes in self.indexes.items():
            index = indexes.get(node_id)
            if index is not None:
                self.parts[model][index] = host
                self._bodies.pop(model, None)
        self._all = None

    def model_body(self, model: CatalogModel) -> bytes:
        """One model with its hosts, as JSON."""
        body = self._bodies.get(model.id)
        if body is None:
            head = _compact(model_json(model, []))
            body = self._bodies[model.id] = head[: -len(b"[]}")] + b"[" + b",".join(self.parts.get(model.id, ())) + b"]}"
        return body

    def models_body(self) -> bytes:
        """The `/v1/models` answer, as JSON."""
        if self._all is None:
            self._all = b'{"object":"list","data":[' + b",".join(self.model_body(m) for m in self.catalog) + b"]}"
        return self._all


def host_bytes(node: Node) -> bytes:
    """A node as one entry of `available_hosts`, serialized."""
    return _compact(node.host_json())


def _show_renewals(view: View, nodes: dict[str, Node], hosts: dict[str, bytes], renewed: Mapping[str, Node]) -> None:
    """Put this replica's heartbeats into a view and its nodes, where they are newer than what it holds.

    Only the heartbeat's fields are taken: the rest (the probe's outcome) may have been read since.
    """
    for node_id, node in renewed.items():
        known = nodes.get(node_id)
        if known is None or known.last_seen >= node.last_seen:
            continue
        merged = with_beat_of(known, node)
        host = host_bytes(merged)
        nodes[node_id], hosts[node_id] = merged, host
        if node_id in view.listed:
            view.renew(node_id, host)


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Directory:
    """Keeps the current view and reads what changed from the store when it is stale."""

    def __init__(self, store: RegistryStore, lease_s: float, max_age_s: float = MAX_AGE_S) -> None:
        self.store = store
        self.lease_s = lease_s
        self.max_age_s = max_age_s
        self.reads = 0
        self.rows_read = 0
        self._view: View | None = None
        self._generation = 0
        self._changed_at = 0.0
        self._reading: asyncio.Future[View] | None = None
        self._nodes: dict[str, Node] = {}
        self._hosts: dict[str, bytes] = {}
        self._orders: Orders = {}
        self._read_at: float | None = None
        self._renewed_meanwhile: dict[str, Node] | None = None
        self._roster_changes = 0
        self._roster_read = -1
        self._unshown: dict[str, Node] = {}
        self._shown_at = 0.0

    def invalidate(self) -> None:
        """A client's own change (a deletion, a catalog model): listings from now on come from a view read after it."""
        self._generation += 1

    def changed(self) -> None:
        """A change listings must show soon (a probe's outcome, a registration, another replica's news): within MIN_REFRESH_S."""
        self._changed_at = time.time()

    def roster_changed(self) -> None:
        """A registration or deletion, here or maybe at another replica: nodes are known again only after the next read."""
        self._roster_changes += 1
        self.changed()

    def known(self, node_id: str) -> Node | None:
        """A listed node as last read, unless a registration or deletion may have changed it since that read began."""
        if self._roster_read != self._roster_changes:
            return None
        node, unshown = self._nodes.get(node_id), self._unshown.get(node_id)
        return with_beat_of(node, unshown) if node is not None and unshown is not None else node

    def renewed(self, node: Node, listed: bool) -> None:
        """A heartbeat this replica stored: shown in place soon when the view lists the node, else soon if it is now listed."""
        if self._renewed_meanwhile is not None:
            self._renewed_meanwhile[node.node_id] = node
        view = self._view
        if view is not None and node.node_id in view.listed:
            self._unshown[node.node_id] = node
        elif listed:
            self.changed()

    def _show_unshown(self) -> None:
        """Put the heartbeats gathered since the last time into the current view and the known nodes."""
        if self._view is not None and self._unshown:
            _show_renewals(self._view, self._nodes, self._hosts, self._unshown)
        self._unshown = {}

    def _stale(self, view: View, now: float) -> bool:
        """Whether a view is due to be read again: too old, or older than a change and MIN_REFRESH_S."""
        return now >= view.expires_at or (self._changed_at >= view.taken_at and now >= view.taken_at + MIN_REFRESH_S)

    def _usable(self, view: View | None, wanted: int, now: float) -> bool:
        """Whether a view may answer while a newer one is read: it shows the caller's own changes and is not too old."""
        return view is not None and view.generation >= wanted and now < view.expires_at + self.max_age_s

    async def view(self) -> View:
        """A view for one listing: the current one (a newer one read meanwhile when it is due), else one read for it.

        Callers wait for a read only for their own changes (a deletion, a catalog model) or when no read
        succeeded for twice the maximum age; a read is shared by everyone who waits for it.
        """
        wanted = self._generation
        view = self._view
        now = time.time()
        if view is not None and self._stale(view, now):
            self._start_read()
        while not self._usable(view, wanted, now):
            view = await asyncio.shield(self._start_read())
            if view.generation >= wanted:
                break
        assert view is not None
        if self._unshown and self._reading is None and now >= self._shown_at + SHOW_RENEWALS_S:
            self._show_unshown()
            self._shown_at = now
        return view

    def _start_read(self) -> asyncio.Future[View]:
        """The read under way, or a new one."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read())
            self._reading.add_done_callback(self._done)
        return self._reading

    def _done(self, future: asyncio.Future[View]) -> None:
        self._reading = None
        if not future.cancelled():
            future.exception()

    async def _read(self) -> View:
        self._show_unshown()
        generation = self._generation
        roster = self._roster_changes
        now = time.time()
        since = None if self._read_at is None or self.reads % FULL_READ_EVERY == 0 else self._read_at - SLACK_S
        nodes, hosts = dict(self._nodes), dict(self._hosts)
        renewed: dict[str, Node] = {}
        self._renewed_meanwhile = renewed
        try:
            view, orders, rows = await asyncio.to_thread(self._read_view, nodes, hosts, since, now, generation)
            _show_renewals(view, nodes, hosts, renewed)
        finally:
            self._renewed_meanwhile = None
        self._nodes, self._hosts, self._orders = nodes, hosts, orders
        self._roster_read = roster
        self._read_at = now
        self.reads += 1
        self.rows_read += rows
        if self._view is None or self._view.generation <= generation:
            self._view = view
        return view

    def _read_view(
        self, nodes: dict[str, Node], hosts: dict[str, bytes], since: float | None, now: float, generation: int
    ) -> tuple[View, Orders, int]:
        """Read what changed into copies of the known nodes and build the view and its order, in a worker thread.

        Off the event loop, so that answers go on while thousands of hosts are merged, serialized and placed.
        A full read (`since` None) orders every node again; any other carries the last order over.
        """
        catalog = self.store.catalog()
        listable, changed = self.store.listable_changes(now - self.lease_s, since, set(nodes))
        gone = set(nodes) - listable
        for node_id in gone:
            del nodes[node_id]
            del hosts[node_id]
        for node in changed:
            nodes[node.node_id] = node
            hosts[node.node_id] = host_bytes(node)
        orders = orders_of(nodes.values()) if since is None else carried_over(self._orders, gone, changed)
        return View(catalog, orders, hosts, now, self.max_age_s, generation), orders, len(changed)
