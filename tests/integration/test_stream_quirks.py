"""Streams that batch, buffer, call tools or are not streams at all (issue #9), for both
API flavours, through the engine over real loopback HTTP against the demo's quirk models.

Each case failed before its fix (checked by running these models on the previous core):
the bursty server read 64.6 tokens/s for 50; the buffered ones had TTFT = e2e and no
word why (two reads 2 ms apart, the unit test's case, read 31,500 tokens/s); tool calls
were "completed without generating any token" beside a usage count; a whole JSON answer
was a protocol error (OpenAI) or a stream with TTFT = e2e (Ollama).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from ometer_tui.core.api import open_client
from ometer_tui.core.api.base import ErrorKind, GenerationObservation, GenerationRequest
from ometer_tui.core.bench.metrics import stream_note
from ometer_tui.core.bench.records import RunRecord
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.export import to_csv, to_json, to_markdown
from ometer_tui.core.models import ApiFlavour, GenerationParams
from ometer_tui.demo.catalogue import BY_NAME
from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_fault_matrix import FLAVOURS, endpoint_for, plan_for, run_plan


async def _run(
    demo: DemoServerThread, flavour: ApiFlavour, *names: str, **kw: object
) -> BenchmarkResult:
    params = kw.pop("params", GenerationParams(max_tokens=None))
    plan = plan_for(endpoint_for(demo.url, flavour), *names, params=params, **kw)
    result, _ = await run_plan(plan)
    return result


def _only(result: BenchmarkResult, name: str) -> RunRecord:
    records = [r for r in result.models[name].records if not r.warmup]
    assert len(records) == 1, name
    record = records[0]
    assert record.ok, (name, record.error)
    return record


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_bursty_server_reads_its_sustained_rate(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    """Bursts of 8 tokens every 160 ms are 50 tokens/s: 64 tokens read 56.2 tokens/s with
    (n - 1) / (e2e - ttft), which gives the first burst's 7 extra tokens no time (32
    tokens read 64.6)."""
    truth = BY_NAME["quirk-bursty"]
    result = await _run(demo, flavour, truth.name)
    r = _only(result, truth.name)
    assert r.output_tokens == 64 and r.tokens_source == "usage"
    assert r.decode_tps == pytest.approx(truth.tokens_per_s, rel=0.02)  # 50, not 56.2
    assert r.arrivals == 8 and r.tokens_per_arrival == pytest.approx(8.0)
    assert not r.buffered and stream_note(r) is None
    # inter-token gaps: 7 of every 8 are within a read (0), the others one burst apart
    # (generous: a loaded machine may write one burst late)
    assert r.itl_p50_s == pytest.approx(0.0, abs=1e-6)
    assert r.itl_p99_s is not None and 0.08 < r.itl_p99_s < 0.4
    assert r.itl_mean_s == pytest.approx(7 * 0.160 / 63, rel=0.1)
    # the kept gaps: one per read after the first, a burst apart, never a zero
    assert r.itl_gaps_us is not None and len(r.itl_gaps_us) == 7
    assert all(80_000 < g < 400_000 for g in r.itl_gaps_us)
    assert r.first_output == "content"


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_buffered_streams_are_flagged_without_a_rate(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    result = await _run(demo, flavour, "quirk-buffered", "quirk-buffered-2", "demo-fast:1b")
    one = _only(result, "quirk-buffered")  # the whole stream in one write
    assert one.buffered and one.arrivals == 1 and one.output_tokens == 32
    assert one.decode_tps is None and one.tpot_s is None and one.itl_mean_s is None
    assert one.ttft_s == one.e2e_s  # honest: the first token did arrive with the last
    assert stream_note(one) == "buffered (32 tokens in 1 read)"
    two = _only(result, "quirk-buffered-2")  # two writes 4 ms apart
    assert two.buffered and two.decode_tps is None, two.decode_tps  # was 7,750 tok/s
    assert two.arrivals in (1, 2)  # the second may already be there when the first is read
    assert stream_note(two) == f"buffered (32 tokens in {two.arrivals} read" + (
        "s)" if two.arrivals == 2 else ")"
    )
    normal = _only(result, "demo-fast:1b")  # streamed token by token: never buffered
    # (a loaded machine may deliver two 5 ms-apart tokens in one read now and then)
    assert not normal.buffered and 1.0 <= (normal.tokens_per_arrival or 0) < 1.5
    assert normal.decode_tps == pytest.approx(BY_NAME["demo-fast:1b"].tokens_per_s, rel=0.25)
    summary = result.models["quirk-buffered"].summary
    assert (
        summary is not None and summary.buffered_runs == 1 and "decode_tps" not in summary.metrics
    )


async def test_openai_tool_call_deltas_are_output(demo: DemoServerThread) -> None:
    truth = BY_NAME["quirk-tool-calls"]
    result = await _run(demo, ApiFlavour.OPENAI, truth.name)
    r = _only(result, truth.name)
    assert r.error is None and r.output_tokens == truth.output_tokens
    assert r.first_output == "tool_call"
    assert r.ttft_s is not None and truth.ttft_s <= r.ttft_s + 0.002 < truth.ttft_s + 0.2
    assert r.ttft_visible_s is None  # no visible content at all
    assert r.decode_tps == pytest.approx(truth.tokens_per_s, rel=0.1)


async def test_ollama_tool_call_chunk_is_output(demo: DemoServerThread) -> None:
    """Ollama sends a tool call whole, in one chunk, when the model has written it."""
    truth = BY_NAME["quirk-tool-calls"]
    result = await _run(demo, ApiFlavour.OLLAMA, truth.name)
    r = _only(result, truth.name)
    assert r.error is None and r.output_tokens == truth.output_tokens
    assert r.first_output == "tool_call" and r.ttft_s is not None
    last_due = truth.ttft_s + (truth.output_tokens - 1) * truth.interval_s
    assert last_due <= r.ttft_s + 0.002 < last_due + 0.2
    assert r.buffered and stream_note(r) == f"buffered ({truth.output_tokens} tokens in 1 read)"


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_a_whole_json_answer_is_not_streamed_in_both_flavours(
    demo: DemoServerThread, flavour: ApiFlavour
) -> None:
    truth = BY_NAME["quirk-not-streamed"]
    result = await _run(demo, flavour, truth.name)
    r = _only(result, truth.name)
    assert r.error is None and r.error_kind is None
    assert r.not_streamed and stream_note(r) == "not streamed"
    assert r.ttft_s is None and r.ttft_visible_s is None  # never TTFT = e2e
    last_due = truth.ttft_s + (truth.output_tokens - 1) * truth.interval_s
    assert r.e2e_s is not None and last_due <= r.e2e_s + 0.002 < last_due + 0.2
    assert r.output_tokens == truth.output_tokens and r.tokens_source == "usage"
    assert r.decode_tps is None and not r.buffered and r.first_output == "content"
    summary = result.models[truth.name].summary
    assert summary is not None and summary.ok == 1 and summary.not_streamed_runs == 1


async def test_exports_say_buffered_not_streamed_and_first_output(demo: DemoServerThread) -> None:
    names = ("quirk-buffered", "quirk-not-streamed", "quirk-tool-calls", "demo-fast:1b")
    result = await _run(demo, ApiFlavour.OPENAI, *names)
    doc = json.loads(to_json(result))
    runs = {m["name"]: m["runs"][0] for m in doc["models"]}
    assert runs["quirk-buffered"]["buffered"] is True
    assert runs["quirk-buffered"]["decode_tps"] is None and runs["quirk-buffered"]["arrivals"] == 1
    assert runs["quirk-not-streamed"]["not_streamed"] is True
    assert runs["quirk-not-streamed"]["ttft_s"] is None
    assert runs["quirk-tool-calls"]["first_output"] == "tool_call"
    assert runs["demo-fast:1b"]["first_output"] == "content"
    assert 1 <= runs["demo-fast:1b"]["tokens_per_arrival"] < 1.5
    summaries = {m["name"]: m["summary"] for m in doc["models"]}
    assert summaries["quirk-buffered"]["buffered_runs"] == 1
    assert summaries["quirk-not-streamed"]["not_streamed_runs"] == 1
    rows = {row["model"]: row for row in csv.DictReader(io.StringIO(to_csv(result)))}
    assert rows["quirk-buffered"]["buffered"] == "true"
    assert rows["quirk-not-streamed"]["not_streamed"] == "true"
    assert rows["quirk-tool-calls"]["first_output"] == "tool_call"
    md = to_markdown(result)
    table = {
        line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")
    }
    assert "| buffered |" in table["quirk-buffered"]
    assert "| not streamed |" in table["quirk-not-streamed"]
    assert "- quirk-buffered: buffered in 1 of 1 ok runs (32 tokens in 1 read)" in md
    assert "- quirk-not-streamed: not streamed in 1 of 1 ok runs" in md


@pytest.mark.parametrize("flavour", FLAVOURS)
async def test_case_twins_are_two_models(demo: DemoServerThread, flavour: ApiFlavour) -> None:
    """The demo answers each twin by its exact name (the selection is h2's fix)."""
    upper, lower = "Quirk-Case/Twin-7B", "quirk-case/twin-7b"
    result = await _run(demo, flavour, upper, lower)
    assert _only(result, upper).output_tokens == BY_NAME[upper].output_tokens == 12
    assert _only(result, lower).output_tokens == BY_NAME[lower].output_tokens == 20


async def test_headless_progress_lines_say_buffered_and_not_streamed(
    demo: DemoServerThread,
) -> None:
    from ometer_tui.core.bench.events import ModelFinished, RunFinished
    from ometer_tui.headless import _Progress

    result = await _run(demo, ApiFlavour.OLLAMA, "quirk-buffered", "quirk-not-streamed")
    out = io.StringIO()
    progress = _Progress(out, quiet=False)
    for name in ("quirk-buffered", "quirk-not-streamed"):
        progress(RunFinished(record=_only(result, name), model_done=1, model_total=1))
    entry = result.models["quirk-buffered"]
    assert entry.summary is not None
    progress(ModelFinished(model="quirk-buffered", summary=entry.summary, phase=entry.phase))
    lines = out.getvalue().splitlines()
    assert lines[2] == "  quirk-buffered: done, 1 ok, 0 failed; buffered in 1 of 1 ok runs"
    assert lines[0].endswith("buffered (32 tokens in 1 read)"), lines[0]
    assert "tok/s" not in lines[0] and "ttft" in lines[0]
    assert "quirk-not-streamed run 1/1: not streamed, e2e " in lines[1], lines[1]
    assert "ttft" not in lines[1]


# -- a one-body answer labelled application/json, from a minimal loopback server --------


async def _answer_once(
    body: bytes, content_type: str, flavour: ApiFlavour
) -> GenerationObservation:
    """One generate() against a server that answers every request with ``body``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )  # fmt: skip
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type.encode()
            + b"\r\nContent-Length: " + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n" + body
        )  # fmt: skip
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with open_client(endpoint_for(f"http://127.0.0.1:{port}", flavour)) as client:
            return await client.generate(
                GenerationRequest("m", "hi", GenerationParams(max_tokens=8))
            )
    finally:
        server.close()
        await server.wait_closed()


async def test_an_ndjson_stream_labelled_json_is_still_read_as_a_stream() -> None:
    lines = [
        {"message": {"role": "assistant", "content": "The "}, "done": False},
        {"message": {"role": "assistant", "content": "sea"}, "done": False},
        {"message": {"role": "assistant", "content": ""}, "done": True, "eval_count": 2},
    ]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    obs = await _answer_once(body, "application/json", ApiFlavour.OLLAMA)
    assert obs.error is None and obs.done and not obs.not_streamed
    assert obs.token_chunks == 2 and obs.output_tokens == 2 and obs.text == "The sea"


async def test_a_whole_ollama_tool_call_answer_is_not_streamed_output() -> None:
    call = {"function": {"name": "f", "arguments": {"x": 1}}}
    whole = {
        "message": {"role": "assistant", "content": "", "tool_calls": [call]},
        "done": True,
        "eval_count": 9,
    }
    obs = await _answer_once(json.dumps(whole).encode(), "application/json", ApiFlavour.OLLAMA)
    assert obs.error is None and obs.not_streamed and obs.first_output == "tool_call"
    assert obs.first_token_ns is None and obs.last_token_ns is not None
    assert obs.output_tokens == 9


async def test_openai_json_that_is_no_completion_is_a_protocol_error() -> None:
    obs = await _answer_once(b'{"hello": "world"}', "application/json", ApiFlavour.OPENAI)
    assert obs.error is not None and obs.error.kind is ErrorKind.PROTOCOL
    assert "not an SSE stream" in obs.error.message and not obs.not_streamed
    err = await _answer_once(
        b'{"error": {"message": "model is asleep"}}', "application/json", ApiFlavour.OPENAI
    )
    assert err.error is not None and err.error.kind is ErrorKind.STREAM
    assert "model is asleep" in err.error.message
