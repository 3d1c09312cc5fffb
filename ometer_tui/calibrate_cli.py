"""``ometer-tui calibrate``: measure what one engine worker holds on this machine.

Always measures (a few seconds) and caches the result where ``run`` finds it; ``--json``
prints the figures as one JSON document.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ometer_tui.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUNS_FAILED

#: tokens/s per stream the text output also states the capacity in
_STREAM_RATES = (50.0, 100.0)


def add_calibrate_command(sub: Any) -> None:
    """The ``calibrate`` subcommand on the top-level subparsers ``sub``."""
    cmd = sub.add_parser(
        "calibrate",
        help="measure how many chunks/s one engine worker holds here within 3 ms of lag",
        description="Run the engine, as one worker of --workers runs it (its own process), "
        "against a loopback server of its own at a few rising loads (about 7 s) and measure "
        "the chunks/s it holds with its event-loop lag p99 <= 3 ms (its own load reports, "
        "the dashboard's figure) and its CPU per chunk. The result is cached for 30 days; "
        "`run` uses it to choose --workers.",
    )
    cmd.add_argument("--json", action="store_true", help="print the figures as JSON")


def _text(cal: Any, path: str) -> str:
    from ometer_tui.core.bench.calibrate import CACHE_MAX_AGE_S, about

    lines = [
        f"ometer-tui calibrate: measured in {cal.took_s:.1f} s; {cal.cores} "
        f"core{'s' if cal.cores != 1 else ''}, {cal.python}, ometer-tui {cal.version}",
        "the engine in a worker process of its own, closed loop against a loopback server, "
        f"{cal.tokens_per_request} tokens a request; its own load reports:",
        "",
        f"  {'load':<26} {'chunks/s':>9} {'CPU':>6} {'lag p99':>9} {'start':>9} {'runs':>5}",
    ]
    for step in cal.steps:
        load = f"{step.streams} streams x {step.tokens_per_s:g} tok/s"
        start = "-" if step.start_lag_ms is None else f"{step.start_lag_ms:.2f} ms"
        lines.append(
            f"  {load:<26} {step.chunks_per_s:>9,.0f} {step.cpu_percent:>5.0f}% "
            f"{step.lag_p99_ms:>6.2f} ms {start:>9} {step.runs:>5}"
        )
    lines.append(
        "  (CPU: the engine's process; lag p99: its WorkerLoad figure, the dashboard's; "
        "start: its first second, left out)"
    )
    limit = f"{cal.lag_limit_ms:g} ms"
    streams = ", ".join(
        f"~{cal.streams_at(rate):,} streams x {rate:g} tokens/s" for rate in _STREAM_RATES
    )
    total = cal.capacity_chunks_per_s * cal.cores
    lines += [
        "",
        f"per-chunk cost:   {cal.per_chunk_us:.1f} us of the engine's CPU (idle: "
        f"{cal.idle_cpu_percent:.0f}% of a core); lag {cal.base_lag_ms:.2f} ms + "
        f"{cal.lag_ms_per_kchunk:.2f} ms per 1,000 chunks/s",
        f"one worker holds: ~{about(cal.capacity_chunks_per_s)} chunks/s within {limit} of "
        f"event-loop lag ({streams})",
        f"this machine:     ~{about(total)} chunks/s with {cal.cores} workers",
    ]
    if cal.note:
        lines.append(f"note: {cal.note}")
    days = CACHE_MAX_AGE_S // 86_400
    lines.append(f"cached in {path} (reused for {days} days)")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from ometer_tui.core.bench import calibrate
    from ometer_tui.core.settings.paths import display_path

    notes: list[str] = []
    if not args.json:
        print("measuring (a few seconds)...", file=sys.stderr, flush=True)
    try:
        cal = calibrate.load_calibration(
            refresh=True, measure=calibrate.measure_calibration, note=notes.append
        )
    except calibrate.CalibrationError as exc:
        print(f"ometer-tui: the calibration failed: {exc}", file=sys.stderr)
        return EXIT_RUNS_FAILED
    except KeyboardInterrupt:
        print("ometer-tui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    for line in notes:
        print(f"ometer-tui: {line}", file=sys.stderr)
    path = calibrate.cache_path()
    if args.json:
        doc = cal.to_json()
        doc["cache_path"] = str(path)
        doc["cache_written"] = not notes
        print(json.dumps(doc, indent=1))
    else:
        print(_text(cal, display_path(path)))
    return EXIT_OK
