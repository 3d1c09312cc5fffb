"""The aiohttp-backed httpx transport: arrival stamps from the protocol, bodies intact.

Real HTTP on loopback against the demo endpoint. The bounds on stamps are about which
bytes a stamp belongs to (a reader that falls behind must not delay them), never about
how fast anything is.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx

from ometer_tui.core.api._http import arrival_clock
from ometer_tui.core.api._transport import AiohttpTransport, Arrival, _StampingHandler
from ometer_tui.demo.server import DemoServerThread

MS = 1_000_000


def chat_body(model: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": model,
        "stream": True,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "hello"}],
    }


async def read_pieces(
    response: httpx.Response, pause_after_first_s: float = 0.0
) -> list[tuple[bytes, int, int]]:
    """(piece, its arrival stamp, when the reader got it) for every piece of a body."""
    stamp = arrival_clock(response)
    pieces: list[tuple[bytes, int, int]] = []
    async for piece in response.aiter_raw():
        pieces.append((piece, stamp(), time.perf_counter_ns()))
        if len(pieces) == 1 and pause_after_first_s:
            await asyncio.sleep(pause_after_first_s)  # the reader falls behind
    return pieces


async def test_the_installed_aiohttp_builds_stamping_protocols(demo: DemoServerThread) -> None:
    transport = AiohttpTransport(max_connections=2)
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        body = chat_body("demo-fast:1b", 4)
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert isinstance(response.extensions["arrival"], Arrival)
            pieces = await read_pieces(response)
            connection = transport._get_session().connector
            assert connection is not None
        handlers = [
            proto
            for conns in connection._conns.values()  # type: ignore[attr-defined]
            for proto, _ in conns
        ]
        assert handlers and all(isinstance(h, _StampingHandler) for h in handlers)
    assert pieces and all(stamp > 0 for _, stamp, _ in pieces)


async def test_a_reader_that_falls_behind_still_gets_each_chunks_arrival(
    demo: DemoServerThread,
) -> None:
    # demo-medium writes a token every 20 ms; the reader sleeps 300 ms after the first
    # piece, so ~15 tokens arrive meanwhile, each in its own data_received.
    transport = AiohttpTransport(max_connections=1)
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        body = chat_body("demo-medium:8b", 40)
        await client.post("/v1/chat/completions", json=chat_body("demo-medium:8b", 1))  # load
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            pieces = await read_pieces(response, pause_after_first_s=0.3)
    stamps = [stamp for _, stamp, _ in pieces]
    assert stamps == sorted(stamps)
    # the pieces read right after the pause arrived during it: stamped then, not when read
    behind = [(stamp, got) for _, stamp, got in pieces[1:] if got - pieces[0][2] >= 300 * MS]
    late_read = [got - stamp for stamp, got in behind[:10]]
    assert len(late_read) == 10 and late_read[0] > 150 * MS
    # not one stamp for a whole coalesced read: the ten pieces carry the ~180 ms over
    # which they arrived (loose: a loaded machine may bunch a few of the server's writes)
    distinct = sorted({stamp for stamp, _ in behind[:10]})
    assert len(distinct) >= 5
    assert distinct[-1] - distinct[0] >= 60 * MS


async def test_pieces_join_to_the_exact_body_and_stamps_belong_to_their_response(
    demo: DemoServerThread,
) -> None:
    body = chat_body("demo-fast:1b", 32)
    async with httpx.AsyncClient(base_url=demo.url) as plain:  # httpx's own transport
        reference = (await plain.post("/v1/chat/completions", json=body)).content
    transport = AiohttpTransport(max_connections=1)  # one connection, kept alive
    async with httpx.AsyncClient(transport=transport, base_url=demo.url) as client:
        for _ in range(3):
            started = time.perf_counter_ns()
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                pieces = await read_pieces(response, pause_after_first_s=0.05)
            joined = b"".join(piece for piece, _, _ in pieces)
            assert strip_ids(joined) == strip_ids(reference)
            assert all(started < stamp <= got for _, stamp, got in pieces)
        assert transport.open_connections == 1


def strip_ids(body: bytes) -> list[object]:
    """The SSE events without the per-response id and timestamp fields."""
    events: list[object] = []
    for line in body.decode().splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        for key in ("id", "created", "system_fingerprint", "usage"):
            event.pop(key, None)
        events.append(event)
    return events
