"""``ometer-tui run`` flags for server telemetry, and the wiring around the engine.

Each flag overrides the settings file (``[telemetry]`` ``enabled`` / ``interval_s``, the
endpoint's ``metrics_url``). Default: on. Discovery asks each source once at the start
(a handful of GETs that a server without them answers at once with a 404); only sources
that answered are then polled, once a second on their own connection, and when none
answers nothing runs.
What the server was doing is the first question when a figure looks odd, so it is
recorded unless ``--telemetry off`` says not to.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TextIO

# light: the parser is built for --help too; the sampler is imported when it runs
from ometer_tui.core.telemetry import DEFAULT_INTERVAL_S, MIN_INTERVAL_S

if TYPE_CHECKING:
    from ometer_tui.core.bench.events import BenchmarkEvent
    from ometer_tui.core.bench.result import BenchmarkResult
    from ometer_tui.core.bench.shards import Runner
    from ometer_tui.core.models import Endpoint
    from ometer_tui.core.telemetry.config import TelemetrySettings
    from ometer_tui.core.telemetry.recording import SourceKind, SourceState
    from ometer_tui.core.telemetry.sampler import TelemetrySampler

    EventSink = Callable[[BenchmarkEvent], None]


def _interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"must be {MIN_INTERVAL_S:g} s or more, got {text}")
    return value


def _url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected http:// or https://, got {text!r}")
    return text


def add_telemetry_options(run: argparse.ArgumentParser) -> None:
    group = run.add_argument_group("server telemetry")
    group.add_argument(
        "--telemetry",
        choices=("on", "off"),
        help="record the server's own metrics during the run: Prometheus /metrics, "
        "llama.cpp /slots and /props, Ollama /api/ps, whichever answer (default: the "
        "settings' [telemetry] enabled, else on)",
    )
    group.add_argument(
        "--telemetry-interval",
        type=_interval,
        metavar="S",
        help=f"seconds between samples (default: the settings' [telemetry] interval_s, "
        f"else {DEFAULT_INTERVAL_S:g}; at least {MIN_INTERVAL_S:g})",
    )
    group.add_argument(
        "--metrics-url",
        type=_url,
        metavar="URL",
        help="Prometheus /metrics served elsewhere (e.g. vLLM on another port; default: "
        "the endpoint's metrics_url); the endpoint's credentials go only to its own host",
    )


class TelemetryHook:
    """Telemetry around one headless run; does nothing when ``--telemetry off``."""

    def __init__(
        self,
        args: argparse.Namespace,
        endpoint: Endpoint,
        err: TextIO,
        settings: TelemetrySettings | None = None,
    ) -> None:
        self.err = err
        self.quiet = bool(getattr(args, "quiet", False))
        self.sampler: TelemetrySampler | None = None
        flag = getattr(args, "telemetry", None)
        enabled = flag == "on" if flag is not None else settings is None or settings.enabled
        if enabled:
            from ometer_tui.core.telemetry.sampler import TelemetrySampler

            interval = getattr(args, "telemetry_interval", None)
            if interval is None:
                interval = settings.interval_s if settings is not None else DEFAULT_INTERVAL_S
            self.sampler = TelemetrySampler(
                endpoint,
                metrics_url=getattr(args, "metrics_url", None),  # else endpoint.metrics_url
                interval_s=interval,
            )

    def tee(self, sink: EventSink) -> EventSink:
        """The engine's events to ``sink``, and the benchmark's start to the sampler."""
        sampler = self.sampler
        if sampler is None:
            return sink

        def both(event: BenchmarkEvent) -> None:
            sampler.observe(event)
            sink(event)

        return both

    async def around(
        self, runner: Runner, main: Coroutine[Any, Any, BenchmarkResult]
    ) -> BenchmarkResult:
        sampler = self.sampler
        if sampler is None:
            return await main

        def announce(sources: dict[SourceKind, SourceState]) -> None:
            if self.quiet:
                return
            found = [s.kind.value for s in sources.values() if s.available]
            print(
                f"ometer-tui: telemetry: {', '.join(found) if found else 'no source answers'}"
                + (f", every {sampler.interval_s:g} s" if found else ""),
                file=self.err,
                flush=True,
            )

        return await sampler.during(main, lambda: runner.result, on_discovered=announce)

    def report(self, result: BenchmarkResult) -> None:
        """Peaks and means (and the client/server TTFT gap) on stderr."""
        if self.quiet or self.sampler is None:
            return
        from ometer_tui.core.telemetry.summary import summary_lines

        for line in summary_lines(result):
            print(line, file=self.err)
