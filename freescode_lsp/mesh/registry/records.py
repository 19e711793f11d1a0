"""The registry's records: catalog models, registrations, heartbeats, stored nodes and probe results."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define

from freescode_lsp.mesh.registry.bodies import (
    MAX_CONTEXT,
    MAX_MODELS_PER_NODE,
    MAX_PRICE_PER_1K,
    ApiError,
    as_int,
    as_model_id,
    as_node_url,
    as_number,
    as_text,
    as_text_list,
    json_object,
    required,
)


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
            name: None if body.get(name) is None else as_number(body[name], name) for name in ("load", "ttft_ms", "tokens_per_s")
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
    def from_row(cls, row: Mapping[str, Any]) -> Node:
        """A node from its `nodes` row."""
        values = dict(row)
        values["models"] = _id_list(values["models"])
        values["served"] = _id_list(values["served"] or "[]")
        values["probe_ok"] = bool(values["probe_ok"])
        return cls(**values)

    def live(self, now: float, lease_s: float) -> bool:
        """Whether the node was heard from within the lease."""
        return now - self.last_seen <= lease_s

    def unlisted_reason(self, model: str, now: float, lease_s: float, detail: bool = True) -> str | None:
        """Why the node is not listed for a model it claims, or None; a failed probe's detail only with `detail`."""
        if not self.live(now, lease_s):
            return f"lease expired: not heard from for {now - self.last_seen:.1f} s (lease {lease_s:g} s)"
        if self.probed_at is None:
            return "not probed yet"
        if not self.probe_ok:
            return f"last probe failed: {self.probe_error}" if detail else "last probe failed"
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

    def status_json(self, now: float, lease_s: float, private: bool = False) -> dict[str, Any]:
        """The node with its probe state and, per claimed model, whether and why it is listed.

        Why a probe failed is shown only to the node's own operator (`private`), so the registry cannot be
        used to learn what answers at an address.
        """
        reasons = {model: self.unlisted_reason(model, now, lease_s, private) for model in self.models}
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
            "probe_error": self.probe_error if private else None,
            "served": list(self.served),
            "listed": [model for model, reason in reasons.items() if reason is None],
            "unlisted": {model: reason for model, reason in reasons.items() if reason is not None},
        }


@define(frozen=True)
class ProbeResult:
    """What one probe of a node found."""

    ok: bool
    served: tuple[str, ...] = ()
    error: str | None = None


@functools.lru_cache(maxsize=4096)
def _id_list(text: str) -> tuple[str, ...]:
    """A stored JSON list of model ids; the same few lists recur on thousands of rows, so each is parsed once."""
    return tuple(json.loads(text))
