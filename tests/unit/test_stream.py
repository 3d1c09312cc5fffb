"""Byte-level NDJSON / SSE splitting: every split point, CRLF, comments, the cap."""

from __future__ import annotations

import pytest

from ometer_tui.core.api.stream import (
    DONE,
    LineSplitter,
    NdjsonSplitter,
    SseEvent,
    SseSplitter,
    StreamTooLarge,
)

NDJSON = (
    b'{"message":{"content":"The"},"done":false}\n'
    b'{"message":{"content":" sea"},"done":false}\r\n'
    b"\n"
    b'{"message":{"content":""},"done":true,"eval_count":2}\n'
)
NDJSON_LINES = [
    b'{"message":{"content":"The"},"done":false}',
    b'{"message":{"content":" sea"},"done":false}',
    b'{"message":{"content":""},"done":true,"eval_count":2}',
]

SSE = (
    b": keep-alive comment\n\n"
    b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
    b'data: {"choices":[{"delta":{"content":"The"}}]}\r\n\r\n'
    b"event: error\n"
    b'data: {"error":\n'
    b'data: "x"}\n\n'
    b"id: 7\nretry: 100\n"
    b'data:{"usage":{"completion_tokens":1}}\n\n'
    b"data: [DONE]\n\n"
)
SSE_EVENTS = [
    SseEvent(None, b'{"choices":[{"delta":{"role":"assistant"}}]}'),
    SseEvent(None, b'{"choices":[{"delta":{"content":"The"}}]}'),
    SseEvent(b"error", b'{"error":\n"x"}'),
    SseEvent(None, b'{"usage":{"completion_tokens":1}}'),
    SseEvent(None, DONE),
]


def _ndjson_in_pieces(pieces: list[bytes]) -> list[bytes]:
    splitter = NdjsonSplitter()
    out: list[bytes] = []
    for piece in pieces:
        out.extend(splitter.feed(piece))
    out.extend(splitter.close())
    return out


def _sse_in_pieces(pieces: list[bytes]) -> list[SseEvent]:
    splitter = SseSplitter()
    out: list[SseEvent] = []
    for piece in pieces:
        out.extend(splitter.feed(piece))
    out.extend(splitter.close())
    return out


@pytest.mark.parametrize("cut", range(len(NDJSON) + 1))
def test_ndjson_split_at_every_offset(cut: int) -> None:
    assert _ndjson_in_pieces([NDJSON[:cut], NDJSON[cut:]]) == NDJSON_LINES


@pytest.mark.parametrize("cut", range(len(SSE) + 1))
def test_sse_split_at_every_offset(cut: int) -> None:
    assert _sse_in_pieces([SSE[:cut], SSE[cut:]]) == SSE_EVENTS


def test_byte_by_byte_and_whole() -> None:
    assert _ndjson_in_pieces([NDJSON[i : i + 1] for i in range(len(NDJSON))]) == NDJSON_LINES
    assert _ndjson_in_pieces([NDJSON]) == NDJSON_LINES
    assert _sse_in_pieces([SSE[i : i + 1] for i in range(len(SSE))]) == SSE_EVENTS
    assert _sse_in_pieces([SSE]) == SSE_EVENTS


def test_three_way_splits_of_sse() -> None:
    for a in range(0, len(SSE), 7):
        for b in range(a, len(SSE), 11):
            assert _sse_in_pieces([SSE[:a], SSE[a:b], SSE[b:]]) == SSE_EVENTS


def test_several_lines_in_one_chunk_are_returned_together() -> None:
    splitter = NdjsonSplitter()
    assert splitter.feed(b'{"a":1}\n{"a":2}\n{"a"') == [b'{"a":1}', b'{"a":2}']
    assert splitter.feed(b":3}\n") == [b'{"a":3}']


def test_last_line_without_newline_comes_at_close() -> None:
    splitter = NdjsonSplitter()
    assert splitter.feed(b'{"a":1}\n{"done":true}') == [b'{"a":1}']
    assert splitter.close() == [b'{"done":true}']
    assert splitter.close() == []


def test_line_splitter_keeps_blank_lines_and_strips_cr() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"a\r\n\r\nb\n\n") == [b"a", b"", b"b", b""]


def test_sse_without_final_blank_line_is_dispatched_at_close() -> None:
    splitter = SseSplitter()
    assert splitter.feed(b"data: [DONE]\n") == []
    assert splitter.close() == [SseEvent(None, DONE)]


def test_sse_event_without_data_is_not_dispatched() -> None:
    splitter = SseSplitter()
    assert splitter.feed(b"event: ping\n\n: comment\n\n") == []
    assert splitter.feed(b"data: x\n\n") == [SseEvent(None, b"x")]  # event name reset


def test_sse_data_field_forms() -> None:
    splitter = SseSplitter()
    # "data" with no colon is a field with an empty value; one leading space is stripped
    assert splitter.feed(b"data:  two spaces\n\n") == [SseEvent(None, b" two spaces")]
    assert splitter.feed(b"data:\ndata\n\n") == [SseEvent(None, b"\n")]


def test_cap_on_an_unterminated_line() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    splitter.feed(b"x" * 60)
    with pytest.raises(StreamTooLarge):
        splitter.feed(b"x" * 60)


def test_cap_when_the_finishing_chunk_crosses_it() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    splitter.feed(b"x" * 90)
    with pytest.raises(StreamTooLarge):
        splitter.feed(b"x" * 20 + b"\n")


def test_cap_on_a_tail_in_one_chunk() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    with pytest.raises(StreamTooLarge):
        splitter.feed(b"ok\n" + b"y" * 101)


def test_cap_resets_after_a_line_ends() -> None:
    splitter = LineSplitter(max_line_bytes=100)
    for _ in range(50):
        assert splitter.feed(b"z" * 80 + b"\n") == [b"z" * 80]
