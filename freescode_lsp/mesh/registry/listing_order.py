"""Which nodes a listing shows for each model, cheapest first: built whole, or carried over from the last listing.

A node is listed for a claimed model when its last probe succeeded and found the model served; the lease is
judged by the database (the listable nodes), so the order depends on nothing but the nodes' rows. Carrying an
order over drops the nodes that left or changed and inserts the changed ones again, so a listing read every
second costs a pass over each model's hosts, not an evaluation and a sort of every node.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Iterable, Mapping

from freescode_lsp.mesh.registry.records import Node

Orders = dict[str, list[Node]]

CHEAPEST_FIRST = operator.attrgetter("price_per_1k", "url")


def listed_models(node: Node) -> list[str]:
    """The claimed models a node is listed for while its lease runs."""
    return [model for model in node.models if node.unlisted_reason(model, 0.0, math.inf, False) is None]


def orders_of(nodes: Iterable[Node]) -> Orders:
    """For each model, the nodes listed for it, cheapest first (then by URL)."""
    orders: Orders = {}
    for node in nodes:
        for model in listed_models(node):
            orders.setdefault(model, []).append(node)
    for listed in orders.values():
        listed.sort(key=CHEAPEST_FIRST)
    return orders


def carried_over(base: Mapping[str, list[Node]], gone: set[str], changed: Iterable[Node]) -> Orders:
    """`base` without the nodes that are `gone` or `changed`, and with the changed ones placed again: what orders_of gives."""
    changed = list(changed)
    drop = gone | {node.node_id for node in changed}
    orders: Orders = {model: [node for node in listed if node.node_id not in drop] for model, listed in base.items()}
    for node in changed:
        for model in listed_models(node):
            bisect.insort(orders.setdefault(model, []), node, key=CHEAPEST_FIRST)
    return {model: listed for model, listed in orders.items() if listed}
