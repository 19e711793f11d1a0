"""Several `registry serve` processes on one real PostgreSQL database answer as one registry and share the probing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from freescode_lsp.testing.node_farm import NodeFarm, start_node_farm
from freescode_lsp.testing.postgres import PostgresServer
from freescode_lsp.testing.processes import wait_for
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry

psycopg = pytest.importorskip("psycopg", reason="the registry's PostgreSQL driver is not installed")
MODEL = "mistral-7b"
OPERATORS = 2


@pytest.fixture(scope="module")
def farm() -> Iterator[NodeFarm]:
    """Simulated nodes of two operators."""
    with start_node_farm("replica-farm", [MODEL]) as started:
        yield started


def tokens(farm: NodeFarm) -> str:
    """FREESCODE_OPERATOR_TOKENS naming the farm's operators op0, op1, ..."""
    return ",".join(f"op{number}:{farm.token(number)}" for number in range(OPERATORS))


def replica(url: str, farm: NodeFarm, *args: str, probe_interval_s: float = 0.5) -> RegistryProcess:
    """One registry process on the database at `url`."""
    return start_registry(url, env_tokens=tokens(farm), probe_interval_s=probe_interval_s, extra_args=args)  # type: ignore[arg-type]


def register(registry: RegistryProcess, farm: NodeFarm, operator: int, node: int) -> str:
    """Register a farm node through one replica; its id."""
    body = {"url": farm.url(operator, node), "models": [MODEL], "price_per_1k": 0.001, "context": 4096}
    response = registry.http.post("/v1/nodes", json=body, headers={"Authorization": f"Bearer {farm.token(operator)}"})
    assert response.status_code == 201, response.text
    return str(response.json()["node_id"])


def hosts(registry: RegistryProcess) -> list[str]:
    """The URLs a replica lists for MODEL."""
    response = registry.http.get(f"/v1/models/{MODEL}")
    assert response.status_code == 200, response.text
    return [host["url"] for host in response.json()["available_hosts"]]


def leases(url: str) -> list[Any]:
    """The probe leases held in the database: (node_id, holder) pairs."""
    with psycopg.connect(url) as connection:
        return connection.execute("SELECT node_id, probe_holder FROM nodes WHERE probe_holder IS NOT NULL").fetchall()


def test_a_change_through_one_replica_is_listed_by_the_other_at_once(postgres_url: str, farm: NodeFarm) -> None:
    never_stale = ("--listing-max-age-s", "3600")
    with replica(postgres_url, farm, *never_stale) as first, replica(postgres_url, farm, *never_stale) as second:
        assert hosts(second) == []
        node_id = register(first, farm, 0, 1)
        assert wait_for(lambda: hosts(first), "the first replica to list the node") == [farm.url(0, 1)]
        assert wait_for(lambda: hosts(second), "the other replica to hear of it") == [farm.url(0, 1)]

        model = {"id": "group-coder-1b", "context": 2048}
        added = first.http.post("/v1/catalog", json=model, headers={"Authorization": f"Bearer {farm.token(1)}"})
        assert added.status_code == 201
        assert wait_for(lambda: second.http.get("/v1/models/group-coder-1b").status_code == 200, "the model on the other")

        deleted = second.http.delete(f"/v1/nodes/{node_id}", headers={"Authorization": f"Bearer {farm.token(0)}"})
        assert deleted.status_code == 200
        wait_for(lambda: not hosts(first), "the first replica to drop the deleted node")


def test_heartbeats_through_either_replica_renew_one_lease(postgres_url: str, farm: NodeFarm) -> None:
    with replica(postgres_url, farm) as first, replica(postgres_url, farm) as second:
        node_id = register(first, farm, 1, 2)
        wait_for(lambda: hosts(second), "the node to be listed")
        operator = {"Authorization": f"Bearer {farm.token(1)}"}
        beat = second.http.post(f"/v1/nodes/{node_id}/heartbeat", json={"load": 0.75}, headers=operator)
        assert beat.status_code == 200 and beat.json()["listed"] == [MODEL]
        wait_for(lambda: first.http.get(f"/v1/models/{MODEL}").json()["available_hosts"][0]["load"] == 0.75, "the load")
        forged = first.http.post(f"/v1/nodes/{node_id}/heartbeat", json={}, headers={"Authorization": f"Bearer {farm.token(0)}"})
        assert forged.status_code == 403
        assert first.http.post("/v1/nodes/node-none/heartbeat", json={}, headers=operator).status_code == 404


def test_each_node_is_probed_once_per_interval_whatever_the_number_of_replicas(postgres_url: str, farm: NodeFarm) -> None:
    interval = 1.0
    nodes = [(number % OPERATORS, 100 + number) for number in range(6)]
    with (
        replica(postgres_url, farm, probe_interval_s=interval) as first,
        replica(postgres_url, farm, probe_interval_s=interval) as second,
        replica(postgres_url, farm, probe_interval_s=interval) as third,
    ):
        for index, (operator, node) in enumerate(nodes):
            register((first, second, third)[index % 3], farm, operator, node)
        names = [f"o{operator}/n{node}" for operator, node in nodes]

        def probed_often() -> dict[str, list[float]]:
            found = farm.probes()
            return found if all(len(found.get(name, [])) >= 6 for name in names) else {}

        times = wait_for(probed_often, "every node to be probed several times")
    for name in names:
        periodic = times[name][2:]
        gaps = [later - earlier for earlier, later in zip(periodic, periodic[1:], strict=False)]
        assert min(gaps) > 0.8 * interval, (name, gaps)


def test_a_replica_that_stops_gives_its_leases_back_and_one_killed_mid_probe_hands_them_on(
    postgres_url: str, farm: NodeFarm
) -> None:
    slow = ("--probe-timeout-s", "5")
    with replica(postgres_url, farm, *slow) as first:
        register(first, farm, 0, 200)
        wait_for(lambda: hosts(first), "the node to be listed")
        before = len(farm.probes()["o0/n200"])
        farm.set_script({"hang": ["o0/n200"]})
        wait_for(lambda: len(farm.probes()["o0/n200"]) > before, "a probe to hang")
        assert len(leases(postgres_url)) == 1
        assert first.stop() == 0
        assert leases(postgres_url) == []

    with replica(postgres_url, farm, *slow) as second:
        hung = len(farm.probes()["o0/n200"])
        wait_for(lambda: len(farm.probes()["o0/n200"]) > hung, "the next replica to probe, and hang")
        [(_, holder)] = leases(postgres_url)
        second.process.send_signal(signal.SIGKILL)
        second.process.wait(timeout=10)
        assert leases(postgres_url) == [(_, holder)], "a killed replica cannot give its lease back"

    farm.set_script({})
    quick = ("--probe-timeout-s", "1")
    with replica(postgres_url, farm, *quick) as third:
        waiting = len(farm.probes()["o0/n200"])
        wait_for(lambda: len(farm.probes()["o0/n200"]) > waiting, "the lease to run out and the node to be probed")
        assert wait_for(lambda: hosts(third), "the node listed again") == [farm.url(0, 200)]


def test_a_replica_answers_503_while_the_database_is_down_and_recovers(
    postgres: PostgresServer, postgres_url: str, farm: NodeFarm
) -> None:
    with replica(postgres_url, farm) as first:
        register(first, farm, 1, 300)
        wait_for(lambda: hosts(first), "the node to be listed")
        postgres.stop()
        try:
            down = wait_for(lambda: (r := first.http.get("/v1/nodes")).status_code == 503 and r, "a 503")
            assert down.headers["retry-after"] == "1"
            assert "database is unavailable" in down.json()["error"]["message"]
            assert first.http.get("/health").status_code == 200
        finally:
            postgres.start()
        assert wait_for(lambda: hosts(first), "listings after the restart") == [farm.url(1, 300)]
        assert len(first.http.get("/v1/nodes").json()["data"]) == 1
