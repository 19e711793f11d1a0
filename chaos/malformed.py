"""Hostile LSP messages written in batches to one server: every request answered, the server stays up."""

from __future__ import annotations

import asyncio
import json
import random
import time
from concurrent.futures import Future
from typing import Any

from lsprotocol import types

from chaos.common import NODE_MODELS, CampaignResult, editor_session, scratch_home
from freescode_lsp.testing.lsp_harness import Editor
from freescode_lsp.testing.node_options import node_options
from freescode_lsp.testing.samples import SOURCE
from freescode_lsp.testing.stub_node import start_stub_node

BATCH = 250
HUGE_BYTES = 3_000_000
ODD_VALUES: list[Any] = [
    None,
    5,
    -1,
    2**63,
    1.5,
    "x",
    "",
    [],
    [1, "a"],
    {},
    {"k": None},
    True,
    "\u0000",
    "😀" * 10,
]


def _range(line: int, character: int) -> dict[str, Any]:
    return {
        "start": {"line": line, "character": character},
        "end": {"line": line, "character": character},
    }


def _mutate(value: Any, rng: random.Random) -> Any:
    """The value with one field, somewhere inside, replaced by something of the wrong type."""
    if isinstance(value, dict) and value and rng.random() < 0.7:
        key = rng.choice(list(value))
        return {**value, key: _mutate(value[key], rng)}
    return rng.choice(ODD_VALUES)


def _frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def _request(msg_id: str, method: str, params: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode()


def _message(kind: str, msg_id: str, uri: str, rng: random.Random) -> tuple[bytes, bool]:
    """One hostile body and whether the spec requires an answer to it."""
    action = {
        "textDocument": {"uri": uri},
        "range": _range(5, 0),
        "context": {"diagnostics": []},
    }
    if kind == "bad_json":
        junk = [
            b"{not json}",
            b'{"jsonrpc": "2.0", "id": ',
            b"[]",
            b"null",
            b"\x00\x01\x02",
            b"{}" * 50,
        ]
        return rng.choice(junk), False
    if kind == "invalid_utf8":
        body = _request(msg_id, types.TEXT_DOCUMENT_CODE_ACTION, action).replace(b"file://", b"file://\xff\xfe", 1)
        return body, True
    if kind == "wrong_types":
        method, params = rng.choice(
            [
                (types.TEXT_DOCUMENT_CODE_ACTION, action),
                (
                    types.CODE_ACTION_RESOLVE,
                    {"title": "Fix", "kind": "quickfix", "data": {"uri": uri}},
                ),
                (
                    types.WORKSPACE_EXECUTE_COMMAND,
                    {"command": "freescode.runTask", "arguments": [{"uri": uri}]},
                ),
                (
                    types.TEXT_DOCUMENT_HOVER,
                    {
                        "textDocument": {"uri": uri},
                        "position": {"line": 0, "character": 0},
                    },
                ),
            ]
        )
        return _request(msg_id, method, _mutate(params, rng)), True
    if kind == "unknown_method":
        if rng.random() < 0.3:
            return json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": f"$/chaos{rng.randrange(99)}",
                    "params": {},
                }
            ).encode(), False
        return _request(msg_id, f"chaos/method{rng.randrange(999)}", {"x": 1}), True
    if kind == "out_of_range":
        line, character = rng.choice([(10**9, 0), (-5, 3), (5, 10**9), (2**31, 2**31), (0, -1)])
        if rng.random() < 0.5:
            return _request(
                msg_id,
                types.TEXT_DOCUMENT_CODE_ACTION,
                {**action, "range": _range(line, character)},
            ), True
        args = {
            "uri": uri,
            "task": rng.choice(["fix", "clean", "refactor"]),
            "line": abs(line) + 100,
            "endLine": 10**9,
        }
        return _request(
            msg_id,
            types.WORKSPACE_EXECUTE_COMMAND,
            {"command": "freescode.runTask", "arguments": [args]},
        ), True
    filler = "x" * HUGE_BYTES
    huge = {
        **action,
        "context": {"diagnostics": [{"range": _range(0, 0), "message": filler}]},
    }
    return _request(msg_id, types.TEXT_DOCUMENT_CODE_ACTION, huge), True


AWKWARD_FOLDERS = ["my project", "café", "a^b", "c#d", "100%", "x[1]", "数据 😀", "(a)+b;c=d@e"]
MAX_MESSAGE_CHARS = 20_000
HOSTILE_SETTINGS: list[Any] = [
    {"local": {"memory_budget_gb": float("inf"), "threads": 100_000}},
    {"local": {"max_context": 10**15, "idle_unload_s": 1e308}},
    {"nodes": "abc"},
    {"nodes": [{"url": "http://127.0.0.1:99999"}, {"url": "http://[::1"}, {"url": "http://h\t:1"}]},
    {"nodes": [{"url": "http://127.0.0.1:9", "models": "code-llama-7b"}]},
    {"models": {"code-llama-7b": {"gguf": "/tmp/" + "x" * 5000 + ".gguf"}}},
    {"routing": {"fix": "y" * 1_000_000}, "y" * 100_000: 1},
    {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    "not a table",
    [1, 2, 3],
]


def _settings_push(rng: random.Random, url: str) -> bytes:
    """didChangeConfiguration with one hostile settings value over the good ones (remote only: no model loads)."""
    hostile = rng.choice(HOSTILE_SETTINGS)
    pushed = {**node_options(url, NODE_MODELS), **hostile} if isinstance(hostile, dict) else hostile
    params = {"settings": {"freescode": pushed}}
    body = {"jsonrpc": "2.0", "method": types.WORKSPACE_DID_CHANGE_CONFIGURATION, "params": params}
    return json.dumps(body).encode()


def _found_check(version: int) -> Any:
    """A check on a codeAction answer: every action carries the document's version, so the server found it."""

    def check(answer: Any) -> str | None:
        actions = answer if isinstance(answer, list) else []
        data = [a.get("data") if isinstance(a, dict) else getattr(a, "data", None) for a in actions]
        if not data or any(not isinstance(d, dict) or d.get("version") != version for d in data):
            return "the server did not find a document opened under a percent-encoded URI"
        return None

    return check


KINDS = ["bad_json", "invalid_utf8", "wrong_types", "unknown_method", "out_of_range", "awkward_uri", "settings"]


async def _alive(editor: Editor, uri: str) -> bool:
    """A valid request answers in time."""
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri),
        range=types.Range(types.Position(5, 0), types.Position(5, 0)),
        context=types.CodeActionContext(diagnostics=[]),
    )
    try:
        answer = await asyncio.wait_for(editor.client.text_document_code_action_async(params), 30)
    except Exception:  # noqa: BLE001 - any failure means the server is not answering properly
        return False
    return bool(answer)


async def run(trials: int, seed: int) -> CampaignResult:
    """Write `trials` hostile messages in batches; check answers, liveness and the process."""
    result = CampaignResult("malformed LSP")
    started = time.monotonic()
    node = start_stub_node()
    try:
        with scratch_home() as home:
            async with editor_session(home, node.url) as editor:
                uri = editor.open(home / "target.py", SOURCE)
                awkward = [editor.open(home / folder / "target.py", SOURCE) for folder in AWKWARD_FOLDERS]
                await _campaign(editor, uri, trials, random.Random(seed), result, awkward, node.url)
    finally:
        node.stop()
    result.seconds = time.monotonic() - started
    return result


async def _campaign(
    editor: Editor,
    uri: str,
    trials: int,
    rng: random.Random,
    result: CampaignResult,
    awkward: list[str],
    url: str,
) -> None:
    """The batches, the liveness probes between them and the final count and checks of answers."""
    waiting: dict[str, tuple[str, Future[Any]]] = {}
    checks: dict[str, Any] = {}
    optional: dict[str, Future[Any]] = {}
    counts: dict[str, int] = {}
    futures = editor.client.protocol._request_futures
    writer = editor.client.protocol.writer
    assert writer is not None
    huge_every = max(trials // 10, 100)
    for first in range(0, trials, BATCH):
        chunk = []
        for n in range(first, min(first + BATCH, trials)):
            kind = "huge" if n % huge_every == huge_every // 2 else rng.choice(KINDS)
            counts[kind] = counts.get(kind, 0) + 1
            msg_id = f"chaos-{n}"
            if kind == "awkward_uri":
                target = rng.choice(awkward)
                checks[msg_id] = _found_check(editor.version(target))
                body, required = (
                    _request(
                        msg_id,
                        types.TEXT_DOCUMENT_CODE_ACTION,
                        {
                            "textDocument": {"uri": target},
                            "range": _range(5, 0),
                            "context": {"diagnostics": []},
                        },
                    ),
                    True,
                )
            elif kind == "settings":
                body, required = _settings_push(rng, url), False
            else:
                body, required = _message(kind, msg_id, uri, rng)
            future: Future[Any] = Future()
            futures[msg_id] = future
            if required:
                waiting[msg_id] = (kind, future)
            else:
                optional[msg_id] = future
            chunk.append(_frame(body))
            result.tried += 1
        writer.write(b"".join(chunk))
        if not await _alive(editor, uri):
            result.fail(first, "a valid codeAction got no answer after this batch")
            break
    await _settle(waiting, result)
    for msg_id, check in checks.items():
        future = waiting[msg_id][1]
        problem = check(future.result()) if future.done() and future.exception() is None else "no answer"
        if problem is not None:
            result.fail(int(msg_id.rsplit("-", 1)[1]), problem)
    longest = max((len(m.message) for m in editor.client.messages), default=0)
    if longest > MAX_MESSAGE_CHARS:
        result.fail(trials, f"a window/showMessage of {longest:,} characters")
    if not await _alive(editor, uri):
        result.fail(trials, "a valid codeAction got no answer at the end")
    unanswered = [msg_id for msg_id, future in optional.items() if not future.done()]
    for msg_id in unanswered:
        futures.pop(msg_id, None)
    result.notes.append(f"answers to messages the spec lets go unanswered: {len(optional) - len(unanswered)}/{len(optional)}")
    result.notes.append("kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    server = editor.client._server
    if server is None or server.returncode is not None:
        result.fail(trials, "the server process exited")


async def _settle(waiting: dict[str, tuple[str, Future[Any]]], result: CampaignResult) -> None:
    """Wait for every required answer; each one missing is a failure."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(future.done() for _, future in waiting.values()):
        await asyncio.sleep(0.05)
    for msg_id, (kind, future) in waiting.items():
        if not future.done():
            result.fail(int(msg_id.rsplit("-", 1)[1]), f"{kind} request {msg_id} got no answer")
