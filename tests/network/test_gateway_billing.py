"""The node gateway bills every answer as the engine reported it, whatever its size, or refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from freescode_lsp.mesh.node.ledger import NodeLedger
from freescode_lsp.mesh.node.tally import MAX_WHOLE_BODY
from freescode_lsp.testing.node_process import NodeProcess, start_gateway
from freescode_lsp.testing.stub_node import StubNode, start_stub_node
from freescode_lsp.testing.waiting import wait_for

MILLION = 1_000_000


@pytest.fixture
def stub() -> Iterator[StubNode]:
    """A stub engine."""
    node = start_stub_node()
    yield node
    node.stop()


@pytest.fixture
def gateway(tmp_path: Path, stub: StubNode) -> Iterator[NodeProcess]:
    """A gateway in front of the stub, priced at 1 per 1000 tokens."""
    process = start_gateway(tmp_path, "--model", "stub-model", "--engine-url", stub.url, "--price-per-1k", "1")
    yield process
    process.stop()


def billed(gateway: NodeProcess) -> list[tuple[int, int]]:
    """(requests, completion tokens) per client in the gateway's ledger."""
    ledger = NodeLedger(gateway.ledger)
    try:
        return [(row.requests, row.completion_tokens) for row in ledger.by_client()]
    finally:
        ledger.close()


def chat(stream: bool) -> dict[str, object]:
    """A chat request body."""
    return {"model": "stub-model", "messages": [{"role": "user", "content": "write a lot"}], "stream": stream}


@pytest.mark.parametrize("stream", [False, True])
def test_an_answer_over_4_mb_is_billed_as_the_engine_reported(gateway: NodeProcess, stub: StubNode, stream: bool) -> None:
    text = "word " * (MILLION + 1000)
    stub.set_script(
        {
            "default": {
                "chunks": [text[i : i + 65536] for i in range(0, len(text), 65536)],
                "usage": {"prompt_tokens": 4, "completion_tokens": MILLION},
            }
        }
    )
    response = gateway.http.post("/v1/chat/completions", json=chat(stream), timeout=120)
    assert response.status_code == 200
    assert wait_for(lambda: billed(gateway), "the ledger row") == [(1, MILLION)]
    if not stream:
        assert response.json()["choices"][0]["message"]["content"] == text


def test_a_non_streamed_answer_too_large_to_bill_is_refused(gateway: NodeProcess, stub: StubNode) -> None:
    text = "x" * (MAX_WHOLE_BODY + 1024)
    stub.set_script({"default": {"chunks": [text], "usage": {"prompt_tokens": 4, "completion_tokens": 7}}})
    response = gateway.http.post("/v1/chat/completions", json=chat(False), timeout=120)
    assert response.status_code == 502
    assert "nothing was billed" in response.json()["error"]["message"]
    wait_for(
        lambda: 'freescode_node_errors_total{kind="engine_answer_refused"} 1' in gateway.http.get("/metrics").text,
        "the refusal in /metrics",
    )
    assert billed(gateway) == []
    stub.set_script({"default": {"chunks": ["small"], "usage": {"prompt_tokens": 4, "completion_tokens": 7}}})
    assert gateway.http.post("/v1/chat/completions", json=chat(False)).status_code == 200
    assert wait_for(lambda: billed(gateway), "the next answer's row") == [(1, 7)]
