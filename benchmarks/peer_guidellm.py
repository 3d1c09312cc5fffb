"""The peer of benchmarks/accuracy.py: guidellm, run by its own CLI from its own venv.

Checked against guidellm 0.8.1 (the newest on PyPI on 2026-11-30): ``guidellm run``
with ``--profile kind=...`` / ``--constraint kind=...`` options (0.8 replaced the
``benchmark --rate-type`` options of earlier versions) and the JSON report of
``--output kind=json``: ``benchmarks[0].requests.successful[]``, each with
``time_to_first_token_ms``, ``inter_token_latency_ms``, the generated ``output`` and
``info.timings`` on the wall clock (``time.time()`` seconds).

Each of accuracy.py's loads is asked of the peer as its own equivalent:

* one wave and closed-loop waves: ``kind=concurrent,streams=S`` with
  ``kind=max_requests,count=N`` (each stream sends its next request when the last
  ended, as ometer-tui's engine does at concurrency S);
* open loop: ``kind=constant,rate=R,max_concurrency=C`` (requests at fixed intervals,
  whatever the completions do, at most C in flight; ometer-tui's request-rate limit
  spaces them evenly too) with the same ``max_requests``.

Its defaults otherwise: no warm-up, so its first requests open their connections inside
their TTFT (guidellm's ``request_start`` is stamped before the connection is taken).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION_CHECKED = "0.8.1"
PROMPT = "Write one paragraph about the sea."


class PeerFormatError(ValueError):
    """The peer's report is not in the shape this module reads (another version?)."""


@dataclass(frozen=True, slots=True)
class PeerLoad:
    """What the peer is asked to do: ``requests`` in all, closed-loop over ``streams``,
    or open-loop at ``rate_per_s`` with at most ``max_concurrency`` in flight."""

    streams: int
    requests: int
    rate_per_s: float | None = None
    max_concurrency: int | None = None

    def profile(self) -> str:
        if self.rate_per_s is None:
            return f"kind=concurrent,streams={self.streams}"
        cap = self.max_concurrency or self.streams
        return f"kind=constant,rate={self.rate_per_s:.4f},max_concurrency={cap}"

    def constraint(self) -> str:
        return f"kind=max_requests,count={self.requests}"

    def describe(self) -> str:
        """For the table: the peer's own profile, in its own words."""
        if self.rate_per_s is None:
            return f"concurrent, streams={self.streams}, max_requests={self.requests}"
        cap = self.max_concurrency or self.streams
        return (
            f"constant, rate={self.rate_per_s:.1f}/s, max_concurrency={cap}, "
            f"max_requests={self.requests}"
        )


def write_prompts(path: Path, runs: int, tokens: int) -> None:
    """The peer's dataset: one JSON line per request, asking ``tokens`` output tokens."""
    with path.open("w") as fh:
        for _ in range(runs):
            fh.write(json.dumps({"prompt": PROMPT, "output_tokens_count": tokens}) + "\n")


def command(exe: str, url: str, load: PeerLoad, data: Path, out: Path) -> list[str]:
    return [
        exe, "run", "--backend", f"kind=openai_http,target={url},model=stamp",
        "--profile", load.profile(), "--constraint", load.constraint(),
        "--data", f"kind=json_file,path={data}",
        "--output", f"kind=json,path={out}", "--disable-console",
    ]  # fmt: skip


def version(exe: str) -> str | None:
    """``guidellm --version`` (``guidellm version: 0.8.1``), or None."""
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    text = proc.stdout.strip().rsplit(" ", 1)[-1] if proc.returncode == 0 else ""
    return text or None


def _wall_ns(timings: Mapping[str, Any], key: str) -> int | None:
    value = timings.get(key)
    return int(value * 1e9) if isinstance(value, int | float) else None


def parse_report(doc: Any) -> list[dict[str, Any]]:
    """Per successful request whose output starts with the stamping server's request id
    (``r000123``): ``rid``, ``ttft_s``, ``decode_tps``, and wall-clock stamps in ns
    (``sent_ns``: guidellm's ``request_start``; ``first_wall_ns`` / ``last_wall_ns``:
    its first and last token). Raises :class:`PeerFormatError` if the shape differs."""
    try:
        requests = doc["benchmarks"][0]["requests"]["successful"]
    except (KeyError, IndexError, TypeError) as exc:
        raise PeerFormatError(f"no benchmarks[0].requests.successful ({exc!r})") from exc
    if not isinstance(requests, list):
        raise PeerFormatError("benchmarks[0].requests.successful is not a list")
    out: list[dict[str, Any]] = []
    for r in requests:
        text = r.get("output") or ""
        if not (text.startswith("r") and text[1:7].isdigit()):
            continue
        timings = (r.get("info") or {}).get("timings") or {}
        first = _wall_ns(timings, "first_token_iteration")
        last = _wall_ns(timings, "last_token_iteration")
        ttft_ms = r.get("time_to_first_token_ms")
        if ttft_ms is None or first is None or last is None:
            raise PeerFormatError(f"request {text[:7]}: no TTFT or token timings")
        itl = r.get("inter_token_latency_ms")
        out.append({
            "rid": int(text[1:7]), "ttft_s": ttft_ms / 1000,
            "decode_tps": 1000 / itl if itl else None,
            "sent_ns": _wall_ns(timings, "request_start"),
            "first_wall_ns": first, "last_wall_ns": last,
        })  # fmt: skip
    return out
