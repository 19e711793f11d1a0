"""A listing's order carried over from the last one is the order built whole from the same nodes."""

from __future__ import annotations

import random

import attrs

from freescode_lsp.mesh.registry.listing_order import carried_over, orders_of
from freescode_lsp.mesh.registry.records import Node

MODELS = ("a-1b", "b-7b", "c-15b")


def node(rng: random.Random, number: int) -> Node:
    """A node with random models, price (often tied) and probe outcome."""
    models = tuple(rng.sample(MODELS, rng.randint(1, 3)))
    probed = rng.random() < 0.9
    return Node(
        node_id=f"node-{number}",
        owner="alice",
        operator=None,
        url=f"http://10.0.{number // 250}.{number % 250}:8080",
        models=models,
        price_per_1k=rng.choice((0.001, 0.002, 0.0005)),
        context=4096,
        probe_key=None,
        revision=0,
        registered_at=0.0,
        last_seen=rng.random(),
        load=None,
        ttft_ms=None,
        tokens_per_s=None,
        probed_at=1.0 if probed else None,
        probe_ok=probed and rng.random() < 0.9,
        served=tuple(model for model in models if rng.random() < 0.8),
        probe_error=None,
    )


def ids(orders: dict[str, list[Node]]) -> dict[str, list[str]]:
    return {model: [n.node_id for n in listed] for model, listed in orders.items()}


def test_an_order_carried_over_through_many_changes_equals_one_built_whole() -> None:
    rng = random.Random(7)
    nodes = {n.node_id: n for n in (node(rng, number) for number in range(400))}
    orders = orders_of(nodes.values())
    assert orders and all(len(listed) > 50 for listed in orders.values())
    fresh = 400
    for _ in range(60):
        gone = set(rng.sample(sorted(nodes), rng.randint(0, 20)))
        for node_id in gone:
            del nodes[node_id]
        changed = [node(rng, int(node_id.split("-")[1])) for node_id in rng.sample(sorted(nodes), rng.randint(0, 30))]
        changed += [node(rng, fresh + extra) for extra in range(rng.randint(0, 10))]
        fresh += 10
        nodes.update((n.node_id, n) for n in changed)
        orders = carried_over(orders, gone, changed)
        assert ids(orders) == ids(orders_of(nodes.values()))


def test_a_model_whose_last_host_left_is_no_longer_in_the_order() -> None:
    only = attrs.evolve(node(random.Random(1), 1), models=("a-1b",), served=("a-1b",), probed_at=1.0, probe_ok=True)
    orders = orders_of([only])
    assert ids(orders) == {"a-1b": ["node-1"]}
    assert carried_over(orders, {only.node_id}, []) == {}
