"""The client's clock beside the server's, for one run: what is compared, and by how much.

Each :class:`ClockRow` names what the two sides measured; when both did, ``diff`` is
exactly ``client - server`` of the two values shown (never of other values), so a
reader can check it by subtraction. What the server reports:

- Ollama: ``load_duration``, ``prompt_eval_duration``, ``eval_duration`` (every output
  token, the first included) and ``total_duration``. The client's decode time
  (first token -> last token) covers the tokens after the first, so it is compared
  with the eval time of those tokens: ``eval * (n - 1) / n``.
- llama.cpp: ``timings.prompt_ms`` and ``predicted_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ometer_tui.core.bench.records import RunRecord


class Unit(StrEnum):
    SECONDS = "s"
    RATE = "tok/s"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class ClockRow:
    label: str
    client: float | None
    server: float | None
    unit: Unit = Unit.SECONDS
    #: client - server, when both are times of the same thing
    diff: float | None = None


def _compared(label: str, client: float | None, server: float | None) -> ClockRow:
    diff = client - server if client is not None and server is not None else None
    return ClockRow(label, client, server, Unit.SECONDS, diff)


def clock_rows(rec: RunRecord) -> list[ClockRow]:
    """The rows of the server-vs-client comparison of one run (see the module doc)."""
    timings = rec.server_timings
    rows: list[ClockRow] = []
    if rec.latency_s is not None and rec.ttft_s is None:  # an embedding request
        total = timings.total_s if timings is not None else None
        rows.append(_compared("latency ~ total", rec.latency_s, total))
        if rec.input_tokens is not None:
            rows.append(ClockRow("input tokens", rec.input_tokens, None, Unit.COUNT))
        return rows
    decode = rec.e2e_s - rec.ttft_s if rec.e2e_s is not None and rec.ttft_s is not None else None
    n = rec.output_tokens
    if timings is not None and timings.eval_s is not None:  # Ollama
        if timings.load_s is not None:
            rows.append(ClockRow("load", None, timings.load_s))
        if timings.prompt_eval_s is not None:
            rows.append(ClockRow("prompt eval", None, timings.prompt_eval_s))
        prefill = (timings.load_s or 0.0) + (timings.prompt_eval_s or 0.0)
        rows.append(_compared("TTFT ~ load+prompt", rec.ttft_s, prefill))
        rows.append(ClockRow("eval (all tokens)", None, timings.eval_s))
        if n is not None and n >= 2:
            after_first = timings.eval_s * (n - 1) / n
            rows.append(_compared(f"decode ~ eval of {n - 1}", decode, after_first))
        if timings.total_s is not None:
            rows.append(_compared("e2e ~ total", rec.e2e_s, timings.total_s))
    elif timings is not None and timings.predicted_ms is not None:  # llama.cpp
        prompt_s = (timings.prompt_ms or 0.0) / 1000.0
        rows.append(_compared("TTFT ~ prompt", rec.ttft_s, prompt_s))
        rows.append(
            _compared("e2e ~ prompt+predicted", rec.e2e_s, prompt_s + timings.predicted_ms / 1000)
        )
    else:
        rows.append(ClockRow("TTFT", rec.ttft_s, None))
        rows.append(ClockRow("e2e", rec.e2e_s, None))
    rows.append(ClockRow("tok/s", rec.decode_tps, rec.server_decode_tps, Unit.RATE))
    if rec.prefill_tps is not None:
        rows.append(ClockRow("prefill t/s", None, rec.prefill_tps, Unit.RATE))
    server_n = timings.eval_count if timings is not None else None
    if n is not None or server_n is not None:
        rows.append(ClockRow("tokens", n, server_n, Unit.COUNT))
    if rec.prompt_tokens is not None:
        rows.append(ClockRow("prompt tokens", None, rec.prompt_tokens, Unit.COUNT))
    return rows


#: Server timing names :func:`clock_rows` already shows (the rest are listed as sent).
SHOWN_TIMINGS = frozenset(
    {"load_s", "prompt_eval_s", "eval_s", "total_s", "eval_count", "prompt_eval_count",
     "prompt_ms", "predicted_ms"}
)  # fmt: skip
