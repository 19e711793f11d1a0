"""Hostile operators, nodes and clients against a registry: aliases, challenge starvation, scanning, slow clients.

Each part adds a note with its figures and a failure when a bound is broken; the parts are checks on top of
the campaign's trials, so they do not add to its trial count. A node is kept only once it proves that the
registering operator runs it, so hostile nodes are met at that ownership challenge.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from chaos.common import CampaignResult
from freescode_lsp.testing.raw_node import BANNER_WORD, RawNode, closed_by_peer, open_slow
from freescode_lsp.testing.registry_process import RegistryProcess, start_registry
from freescode_lsp.testing.stub_node import start_stub_node

TOKENS = {"alice": "alice-token-0123", "bob": "bob-token-0123", "carol": "carol-token-0123"}
MODEL = "mistral-7b"
PROBE_S = 0.3
HUGE_BYTES = 100 * 1024 * 1024
RSS_GROWTH_LIMIT_MIB = 50
FLOOD = 300
SLOW_HEADERS = 30
STALLED_BODIES = 5


def auth(operator: str) -> dict[str, str]:
    """The Authorization header of an operator."""
    return {"Authorization": f"Bearer {TOKENS[operator]}"}


def post_node(registry: RegistryProcess, url: str, operator: str) -> int:
    """Register `url` serving MODEL as an operator; the status code."""
    return post(registry, url, operator).status_code


def post(registry: RegistryProcess, url: str, operator: str) -> httpx.Response:
    """Register `url` serving MODEL as an operator on a connection of its own; the answer."""
    body = {"url": url, "models": [MODEL], "price_per_1k": 0.0001, "context": 8192}
    return httpx.post(f"{registry.url}/v1/nodes", json=body, headers=auth(operator), timeout=60)


def run_by(operator: str) -> dict[str, Any]:
    """A stub node script serving MODEL that proves `operator` runs it."""
    return {"models": [MODEL], "operator_token": TOKENS[operator]}


def node_id(registry: RegistryProcess, url: str, operator: str) -> str:
    """Register `url` and return its node id."""
    body = {"url": url, "models": [MODEL], "price_per_1k": 0.0005, "context": 8192}
    response = registry.http.post("/v1/nodes", json=body, headers=auth(operator))
    response.raise_for_status()
    return str(response.json()["node_id"])


def listed(registry: RegistryProcess) -> list[str]:
    """The URLs listed for MODEL."""
    return [h["url"] for h in registry.http.get(f"/v1/models/{MODEL}").json()["available_hosts"]]


def probed(registry: RegistryProcess, node: str, operator: str) -> dict[str, Any]:
    """The owner's view of a node once it has been probed (empty after 30 s)."""
    return (
        until(lambda: (s := registry.http.get(f"/v1/nodes/{node}", headers=auth(operator)).json())["probed_at"] and s, 30) or {}
    )


def until(check: Callable[[], Any], timeout_s: float) -> Any:
    """Poll `check` until it is truthy or the timeout passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def peak_mib(pid: int) -> float:
    """A process's peak resident memory in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_all(home: Path, result: CampaignResult) -> None:
    """Every part against one registry with loopback allowed, then the default policy on a second one."""
    log = home / "registry-nodes.log"
    registry = start_registry(home / "registry-nodes.sqlite3", tokens=TOKENS, probe_interval_s=PROBE_S, stderr=log)
    try:
        for part in (aliases, starvation, huge_answer, flood, scan_target, slow_clients):
            part(registry, result, log)
    finally:
        registry.stop()
    tracebacks = sum("Traceback" in line for line in log.read_text().splitlines())
    result.notes.append(f"registry log: {tracebacks} traceback(s)")
    if tracebacks:
        result.fail(result.tried, f"the registry logged {tracebacks} traceback(s)")
    public_policy(home, result)


def aliases(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 7: another operator tries every spelling of an honest node's endpoint."""
    honest = start_stub_node(run_by("alice"))
    try:
        node_id(registry, honest.url, "alice")
        port = honest.port
        spellings = [
            f"HTTP://127.0.0.1:{port}",
            f"http://localhost:{port}",
            f"http://127.0.0.2:{port}",
            f"http://127.0.0.1:0{port}",
            f"http://127.0.0.1:{port}/./",
            f"http://[::ffff:127.0.0.1]:{port}",
            f"http://[::1]:{port}",
            f"http://0.0.0.0:{port}",
            f"http://127.1:{port}",
            f"http://0x7f.0.0.1:{port}",
            f"http://LOCALHOST.:{port}/v1/",
            f"http://127.0.0.1:{port}/a/../",
        ]
        accepted = [url for url in spellings if post_node(registry, url, "bob") == 201]
        tabs = [
            "http://127.0.0.1:9\t001",
            "http://127.0.0.1:9001\t",
            " http://127.0.0.1:9001",
            "http://127.0.0.1:90\n01",
        ]
        tabs_accepted = [url for url in tabs if post_node(registry, url, "bob") == 201]
        result.notes.append(
            f"aliases: {len(spellings)} spellings of one node tried by another operator, {len(accepted)} accepted;"
            f" URLs with whitespace: {len(tabs)} tried, {len(tabs_accepted)} accepted"
        )
        if accepted or tabs_accepted:
            result.fail(result.tried, f"accepted: {accepted + tabs_accepted}")
    finally:
        honest.stop()


def starvation(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 8: 16 registrations of nodes dripping 1 byte/s must not delay an honest node's listing or its removal."""
    honest = start_stub_node(run_by("carol"))
    with RawNode("drip") as drip, ThreadPoolExecutor(16) as pool:
        slow = [pool.submit(post, registry, f"{drip.url}/drip{i}", "bob") for i in range(16)]
        until(lambda: drip.connections >= 4, 10)
        started = time.monotonic()
        node_id(registry, honest.url, "carol")
        found = until(lambda: honest.url in listed(registry), 20)
        listed_s = time.monotonic() - started
        honest.stop()
        started = time.monotonic()
        gone = until(lambda: honest.url not in listed(registry), 20)
        unlisted_s = time.monotonic() - started
        statuses = sorted(future.result().status_code for future in slow)
        challenged = drip.connections
    ids = registry.http.get("/v1/nodes", headers=auth("carol")).json()["data"]
    for node in ids:
        registry.http.delete(f"/v1/nodes/{node['node_id']}", headers=auth(node["operator"]))
    kept = [node["operator"] for node in ids]
    result.notes.append(
        f"starvation: 16 registrations of nodes dripping 1 byte/s ({challenged} challenged, answers {_counts(statuses)});"
        f" an honest node was listed after {listed_s:.2f} s and unlisted {unlisted_s:.2f} s after it died"
    )
    if not found or not gone or listed_s > 3 or unlisted_s > 5 or "bob" in kept or challenged > 4:
        result.fail(result.tried, f"honest node listed after {listed_s:.1f} s, unlisted after {unlisted_s:.1f} s; {statuses}")


def _counts(statuses: list[int]) -> str:
    return ", ".join(f"{statuses.count(code)} x {code}" for code in sorted(set(statuses)))


def huge_answer(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 8: a node answering 100 MiB to the ownership challenge must not grow the registry's memory."""
    before = peak_mib(registry.process.pid)
    with RawNode("huge", size=HUGE_BYTES) as huge:
        answer = post(registry, huge.url, "alice")
    after = peak_mib(registry.process.pid)
    error = answer.json()["error"]["message"] if answer.status_code >= 400 else answer.text
    result.notes.append(
        f"huge answer: a 100 MiB answer took the registry's peak RSS from {before:.0f} to {after:.0f} MiB"
        f" ({answer.status_code}: {error[:120]})"
    )
    if after - before > RSS_GROWTH_LIMIT_MIB or answer.status_code != 403:
        result.fail(result.tried, f"peak RSS grew by {after - before:.0f} MiB, registration answered {answer.status_code}")


def flood(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 9: one operator registers 300 nodes; how many are kept and how many requests reach the target."""
    with RawNode("missing") as target:
        started = time.monotonic()
        statuses = [post_node(registry, f"{target.url}/n{i}", "carol") for i in range(FLOOD)]
        time.sleep(max(0.0, started + 5 - time.monotonic()))
        requests = target.connections
        elapsed = time.monotonic() - started  # over 5 s when registering alone took longer (a slow machine)
    accepted = statuses.count(201)
    result.notes.append(
        f"flood: one operator registered {FLOOD} nodes that cannot prove who runs them, {accepted} kept"
        f" ({_counts(statuses)}); {requests} requests reached the target in {elapsed:.1f} s"
    )
    if accepted or requests > FLOOD:
        result.fail(result.tried, f"{accepted} nodes kept, {requests} requests reached the target")


def scan_target(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 9: what a target's reply leaks to its operator and the public node list; whether the registry passes as a node."""
    with RawNode("banner", size=5000) as target:
        answer = post(registry, target.url, "alice")
        public = registry.http.get("/v1/nodes").text
    said = answer.json()["error"]["message"]
    leaked = public.count(BANNER_WORD.split()[0]) + said.count(BANNER_WORD.split()[0])
    itself = post(registry, registry.url, "alice")
    verdict = itself.json()["error"]["message"] if itself.status_code >= 400 else itself.text
    result.notes.append(
        f"scan: a 5,000-character reply shows {leaked} times in the refusal and the public node list; the operator"
        f" is told {len(said)} characters ({said[:80]}...); the registry as a node: {itself.status_code} ({verdict[:80]}...)"
    )
    if leaked or answer.status_code != 403 or itself.status_code != 403 or registry.url in listed(registry):
        result.fail(result.tried, f"leaked {leaked} times, banner {answer.status_code}, registry {itself.status_code}")


def slow_clients(registry: RegistryProcess, result: CampaignResult, log: Path) -> None:
    """Item 10: slow headers and stalled bodies are cut off at the default deadlines, each logged in one line."""
    head = f"POST /v1/nodes HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {TOKENS['alice']}\r\n".encode()
    lines_before = len(log.read_text().splitlines())
    slow = [open_slow(registry.port, head[: 12 + i]) for i in range(SLOW_HEADERS)]
    stalled = [open_slow(registry.port, head + b'Content-Length: 1000\r\n\r\n{"url":') for _ in range(STALLED_BODIES)]
    for _ in range(3):
        open_slow(registry.port, head + b'Content-Length: 1000\r\n\r\n{"url": "h').close()
    started = time.monotonic()
    while time.monotonic() - started < 12:
        for sock in slow[:5]:
            if not closed_by_peer(sock):
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")
        time.sleep(0.5)
    still_open = sum(not closed_by_peer(sock) for sock in slow + stalled)
    for sock in slow + stalled:
        sock.close()
    healthy = registry.http.get("/health").status_code == 200
    time.sleep(0.2)
    lines = log.read_text().splitlines()[lines_before:]
    result.notes.append(
        f"slow clients: {SLOW_HEADERS} slow-header and {STALLED_BODIES} stalled-body connections, {still_open} still"
        f" open after 12 s (deadlines 10 s); 3 clients left mid-body; {len(lines)} log lines for all of them"
    )
    if still_open or not healthy or len(lines) > SLOW_HEADERS + STALLED_BODIES + 3:
        result.fail(result.tried, f"{still_open} open, health {healthy}, {len(lines)} log lines")


def public_policy(home: Path, result: CampaignResult) -> None:
    """Item 9: a registry started without --allow-loopback-nodes refuses 127.0.0.1:22 and never connects."""
    with RawNode("silent") as listener:
        registry = start_registry(home / "registry-public.sqlite3", tokens=TOKENS, allow_loopback=False)
        try:
            statuses = [post_node(registry, url, "alice") for url in ("http://127.0.0.1:22", listener.url)]
            time.sleep(1)
        finally:
            registry.stop()
        connections = listener.connections
    result.notes.append(
        f"default policy: 127.0.0.1:22 and a loopback listener answered {statuses}; the listener saw {connections} connection(s)"
    )
    if statuses != [422, 422] or connections:
        result.fail(result.tried, f"loopback registrations answered {statuses}, {connections} connection(s)")
