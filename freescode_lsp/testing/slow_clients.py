"""Hostile HTTP clients for gateway tests and campaigns: idle connections, headers or a body one byte at a time.

    held = await hold(port, "slow_body", source="127.0.0.2", hold_s=30, reconnect=True)
    held.connects                # connections opened (a cut one is opened again when `reconnect`)
    held.answers                 # what the server said on each before closing it (b"" for a quiet close)
    held.closed_after_s          # how long each lasted until the server closed it
    held.open_at_end             # whether the last one was still open when the hold ended

Kinds: "idle" (sends nothing), "slow_headers" (a request head, one byte every `every_s`), "slow_body" (a
whole head announcing BODY_BYTES, then the body one byte every `every_s`). Every connection goes from
`source`, an address of this machine's loopback network (127.0.0.0/8), to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib

from attrs import define, field

KINDS = ("idle", "slow_headers", "slow_body")
BODY_BYTES = 4096
ANSWER_BYTES = 4096


def request_head(port: int, body_bytes: int = BODY_BYTES) -> bytes:
    """The head of a chat completion request announcing a body of `body_bytes`."""
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {body_bytes}\r\n\r\n"
    ).encode()


@define
class Held:
    """What happened to the connections of one hostile client."""

    kind: str
    connects: int = 0
    failed_connects: int = 0
    answers: list[bytes] = field(factory=list)
    closed_after_s: list[float] = field(factory=list)
    open_at_end: bool = False


async def _drip(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> None:
    """Send `data` one byte every `every_s`, until it is all sent or the connection breaks."""
    for index in range(len(data)):
        writer.write(data[index : index + 1])
        await writer.drain()
        await asyncio.sleep(every_s)


async def _send(writer: asyncio.StreamWriter, kind: str, port: int, every_s: float) -> None:
    if kind == "slow_headers":
        await _drip(writer, request_head(port), every_s)
    elif kind == "slow_body":
        writer.write(request_head(port))
        await _drip(writer, b" " * BODY_BYTES, every_s)
    await asyncio.Event().wait()


async def _answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server says until it closes the connection (at most ANSWER_BYTES kept)."""
    answer = b""
    while chunk := await reader.read(65536):
        answer = (answer + chunk)[:ANSWER_BYTES]
    return answer


async def _one(port: int, kind: str, source: str, until: float, every_s: float, held: Held) -> bool:
    """One connection held until the server closes it (True) or `until` passes (False)."""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    except OSError:
        held.failed_connects += 1
        return True
    held.connects += 1
    opened = loop.time()
    sender = asyncio.ensure_future(_send(writer, kind, port, every_s))
    try:
        async with asyncio.timeout(max(0.0, until - opened)):
            answer = await _answer(reader)
    except TimeoutError:
        return False
    except OSError:
        answer = b""
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    held.answers.append(answer)
    held.closed_after_s.append(loop.time() - opened)
    return True


async def hold(port: int, kind: str, source: str, hold_s: float, every_s: float = 1.0, reconnect: bool = False) -> Held:
    """Hold one hostile connection of `kind` open for `hold_s`, opening it again each time it is cut if `reconnect`."""
    loop = asyncio.get_running_loop()
    until = loop.time() + hold_s
    held = Held(kind)
    while loop.time() < until:
        if not await _one(port, kind, source, until, every_s, held):
            held.open_at_end = True
            break
        if not reconnect:
            break
        await asyncio.sleep(min(every_s, max(0.0, until - loop.time())))
    return held
