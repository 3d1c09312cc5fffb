"""The simulated models of the built-in demo endpoint: known timing, named faults.

Every figure here is the truth the tests compare the client's measurements against.
Token ``i`` (0-based) of a response is written at ``start + ttft_s + i * interval_s``
on an absolute schedule, where ``start`` is when the request was fully read.

The ``quirk-*`` models stream the way some real servers and proxies do: in bursts
(``quirk-bursty``: 64 tokens in bursts of 8 every 160 ms, 50 tokens/s sustained), buffered
(``quirk-buffered``: the whole stream in one write; ``quirk-buffered-2``: two writes
4 ms apart), as tool calls (``quirk-tool-calls``), or not at all (``quirk-not-streamed``
answers ``stream: true`` with one ``application/json`` body). ``Quirk-Case/Twin-7B`` and
``quirk-case/twin-7b`` differ only in case (12 and 20 tokens: a test can tell which ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    NONE = "none"
    FORBIDDEN = "forbidden"  # 403 with a JSON error message
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After: 1 on every request
    RATE_LIMITED_ONCE = "rate_limited_once"  # 429 (Retry-After: 0) on odd requests, ok on even
    SERVER_ERROR = "server_error"  # 500 with a JSON error message
    ERROR_MID_STREAM = "error_mid_stream"  # 200 stream, an error object after 3 tokens
    MALFORMED_LINE = "malformed_line"  # 200 stream, a line that is not JSON after 3 tokens
    RESET = "reset"  # connection reset after 3 tokens
    STALL = "stall"  # stops sending after 3 tokens, keeps the connection open
    TRUNCATED = "truncated"  # ends cleanly after 3 tokens without done / [DONE]


class Quirk(StrEnum):
    """Streams that are not faults but that real servers and proxies produce."""

    NONE = "none"
    TOOL_CALLS = "tool_calls"  # the output is a tool call (OpenAI deltas, Ollama one chunk)
    NOT_STREAMED = "not_streamed"  # ignores ``stream: true``: one application/json body


@dataclass(frozen=True, slots=True)
class DemoModel:
    name: str
    ttft_s: float  # request fully read -> first token written
    interval_s: float  # between consecutive tokens
    output_tokens: int  # tokens per response (capped by max_tokens)
    parameter_size: str
    quantization: str
    context_length: int
    size_bytes: int
    family: str
    capabilities: tuple[str, ...] = ("completion",)
    modified_at: str = "2026-01-01T00:00:00Z"
    reasoning_tokens: int = 0  # thinking tokens sent before the visible ones
    load_s: float = 0.0  # simulated cold load on the first request after start
    prompt_eval_tps: float = 2000.0  # simulated prefill rate (reported, not slept)
    fault: Fault = Fault.NONE
    embedding_dims: int = 0
    #: tokens per write: the tokens of a group are written together when the group's
    #: last one is due (a batching server); the opening goes with the first group and
    #: the closing with the last (one group: the whole stream in one write, as a
    #: buffering proxy sends it)
    burst: int = 1
    quirk: Quirk = Quirk.NONE

    @property
    def tokens_per_s(self) -> float:
        return 1.0 / self.interval_s


CATALOGUE: tuple[DemoModel, ...] = (
    DemoModel(
        "demo-fast:1b",
        ttft_s=0.030,
        interval_s=0.005,
        output_tokens=64,
        parameter_size="1.2B",
        quantization="Q4_K_M",
        context_length=131072,
        size_bytes=807_000_000,
        family="demo",
        modified_at="2026-11-20T10:00:00Z",
    ),
    DemoModel(
        "demo-medium:8b",
        ttft_s=0.080,
        interval_s=0.020,
        output_tokens=48,
        parameter_size="8.0B",
        quantization="Q4_K_M",
        context_length=131072,
        size_bytes=4_920_000_000,
        family="demo",
        modified_at="2026-11-18T10:00:00Z",
        load_s=0.4,
    ),
    DemoModel(
        "demo-slow:70b",
        ttft_s=0.250,
        interval_s=0.060,
        output_tokens=24,
        parameter_size="70.6B",
        quantization="Q3_K_S",
        context_length=32768,
        size_bytes=30_900_000_000,
        family="demo",
        modified_at="2026-11-10T10:00:00Z",
    ),
    DemoModel(
        "demo-think:7b",
        ttft_s=0.050,
        interval_s=0.010,
        output_tokens=24,
        parameter_size="7.6B",
        quantization="Q4_K_M",
        context_length=131072,
        size_bytes=4_680_000_000,
        family="demo",
        modified_at="2026-11-15T10:00:00Z",
        capabilities=("completion", "thinking"),
        reasoning_tokens=16,
    ),
    DemoModel(
        "demo-vision:4b",
        ttft_s=0.120,
        interval_s=0.015,
        output_tokens=32,
        parameter_size="4.3B",
        quantization="Q4_K_M",
        context_length=131072,
        size_bytes=3_340_000_000,
        family="demo-vl",
        modified_at="2026-11-12T10:00:00Z",
        capabilities=("completion", "vision"),
    ),
    DemoModel(
        "demo-embed:335m",
        ttft_s=0.020,
        interval_s=0.0,
        output_tokens=0,
        parameter_size="334M",
        quantization="F16",
        context_length=512,
        size_bytes=669_000_000,
        family="bert",
        modified_at="2026-11-01T10:00:00Z",
        capabilities=("embedding",),
        embedding_dims=1024,
    ),
    *(
        DemoModel(
            f"fault-{fault.value.replace('_', '-')}",
            ttft_s=0.020,
            interval_s=0.005,
            output_tokens=16,
            parameter_size="1B",
            quantization="Q8_0",
            context_length=4096,
            size_bytes=1_000_000_000,
            family="fault",
            modified_at="2026-10-01T10:00:00Z",
            fault=fault,
        )
        for fault in Fault
        if fault is not Fault.NONE
    ),
    # Quirks (oldest, so listed last): streams real servers and proxies send.
    DemoModel(
        "quirk-bursty",
        ttft_s=0.050,
        interval_s=0.020,
        output_tokens=64,
        parameter_size="1B",
        quantization="Q8_0",
        context_length=4096,
        size_bytes=1_000_000_000,
        family="quirk",
        modified_at="2026-09-07T10:00:00Z",
        burst=8,  # bursts of 8 every 160 ms: 50 tokens/s sustained
    ),
    DemoModel(
        "quirk-buffered",
        ttft_s=0.050,
        interval_s=0.010,
        output_tokens=32,
        parameter_size="1B",
        quantization="Q8_0",
        context_length=4096,
        size_bytes=1_000_000_000,
        family="quirk",
        modified_at="2026-09-06T10:00:00Z",
        burst=1_000_000,  # the whole stream in one write once its last token is due
    ),
    DemoModel(
        "quirk-buffered-2",
        ttft_s=0.050,
        interval_s=0.00025,
        output_tokens=32,
        parameter_size="1B",
        quantization="Q8_0",
        context_length=4096,
        size_bytes=1_000_000_000,
        family="quirk",
        modified_at="2026-09-05T10:00:00Z",
        burst=16,  # two writes of 16 tokens 4 ms apart
    ),
    DemoModel(
        "quirk-tool-calls",
        ttft_s=0.050,
        interval_s=0.010,
        output_tokens=24,
        parameter_size="1B",
        quantization="Q8_0",
        context_length=4096,
        size_bytes=1_000_000_000,
        family="quirk",
        modified_at="2026-09-04T10:00:00Z",
        capabilities=("completion", "tools"),
        quirk=Quirk.TOOL_CALLS,
    ),
    DemoModel(
        "quirk-not-streamed",
        ttft_s=0.050,
        interval_s=0.010,
        output_tokens=24,
        parameter_size="1B",
        quantization="Q8_0",
        context_length=4096,
        size_bytes=1_000_000_000,
        family="quirk",
        modified_at="2026-09-03T10:00:00Z",
        quirk=Quirk.NOT_STREAMED,
    ),
    # Case twins: names that differ only in case, the upper-case one listed first; told
    # apart by their output length.
    DemoModel(
        "Quirk-Case/Twin-7B",
        ttft_s=0.020,
        interval_s=0.005,
        output_tokens=12,
        parameter_size="7B",
        quantization="Q4_K_M",
        context_length=4096,
        size_bytes=4_000_000_000,
        family="quirk",
        modified_at="2026-09-02T10:00:00Z",
    ),
    DemoModel(
        "quirk-case/twin-7b",
        ttft_s=0.020,
        interval_s=0.005,
        output_tokens=20,
        parameter_size="7B",
        quantization="Q4_K_M",
        context_length=4096,
        size_bytes=4_000_000_000,
        family="quirk",
        modified_at="2026-09-01T10:00:00Z",
    ),
)

#: Models whose timing comes from a capacity model (demo/capacity.py: slots, a queue,
#: shared decode, a prefix cache). Served by name, not listed, so the demo's listing
#: (and every screen showing it) is unchanged.
CAPACITY_CATALOGUE: tuple[DemoModel, ...] = (
    DemoModel(
        "cap-4slot:1b",
        ttft_s=0.0,
        interval_s=0.02,
        output_tokens=64,
        parameter_size="1B",
        quantization="Q4_K_M",
        context_length=32768,
        size_bytes=800_000_000,
        family="capacity",
        modified_at="2026-11-30T10:00:00Z",
        prompt_eval_tps=4000.0,
    ),
)

BY_NAME: dict[str, DemoModel] = {m.name: m for m in CATALOGUE + CAPACITY_CATALOGUE}

#: Words the demo models "generate", cycled; token i is WORDS[i % len(WORDS)] + " ".
WORDS: tuple[str, ...] = (
    "The",
    "sea",
    "keeps",
    "its",
    "own",
    "time",
    "and",
    "every",
    "wave",
    "arrives",
    "exactly",
    "when",
    "the",
    "schedule",
    "says",
    "it",
    "should",
    "so",
    "a",
    "benchmark",
    "can",
    "tell",
    "the",
    "truth",
)
