"""The headless ``run`` command's sweep, SLO, search and repeat flags (issue #12), the
step lines it prints on stderr, and its exit code after a series of steps.

Kept out of ``cli.py`` and ``headless.py`` (they call in here) so that parsing stays
lazy: the engine's modules load only when a run starts.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from ometer_tui.arg_types import number

if TYPE_CHECKING:
    from ometer_tui.core.bench.events import BenchmarkEvent
    from ometer_tui.core.bench.plan import BenchmarkPlan
    from ometer_tui.core.bench.result import BenchmarkResult
    from ometer_tui.core.bench.runner import EventSink
    from ometer_tui.core.bench.slo import SloTargets
    from ometer_tui.core.bench.steps import SweepEvent
    from ometer_tui.core.bench.sweep import SweepJob, SweepRunner, SweepSpec
    from ometer_tui.core.settings import Settings
    from ometer_tui.telemetry_args import TelemetryHook
    from ometer_tui.worker_args import MakeRunner

_count = number(int, minimum=1, inclusive=True)
_positive = number(float, minimum=0, inclusive=False)


#: What ``job_from_args`` gives: the job and its SLOs.
Job = tuple["SweepJob", "SloTargets"]


class SweepArgsError(ValueError):
    """Flags that do not go together (a usage error, exit 2); one line naming them."""


def _fraction(text: str) -> float:
    value = _positive(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, got {text}")
    return value


def _percentile(text: str) -> float:
    value = _positive(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 100, got {text}")
    return value


def _sweep(text: str) -> SweepSpec:
    from ometer_tui.core.bench.sweep import SweepError, parse_sweep

    try:
        return parse_sweep(text)
    except SweepError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--sweep ")) from None


def _slo(text: str) -> str:
    from ometer_tui.core.bench.slo import SloError, parse_slo

    try:
        parse_slo(text)
    except SloError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--slo ")) from None
    return text


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sweeps and SLOs`` group of ``ometer-tui run``."""
    group = parser.add_argument_group(
        "sweeps and SLOs",
        "A sweep runs the plan as a series of load steps, each with its own warm-up and "
        "summary, one line per step on stderr. Each step lasts --duration/--requests when "
        "given, else --step-duration. It stops early at saturation (throughput < 10% "
        "above the best step while TTFT p50 rises > 20%, 2 steps in a row) or when more "
        "than --sweep-error-budget of a step's requests failed.",
    )
    group.add_argument(
        "--sweep",
        type=_sweep,
        metavar="SPEC",
        help="concurrency=1,2,4,8 (closed loop), rate=1,2,4 (open loop, requests/s) or "
        "rate=auto:N (one-at-a-time and maximum throughput, then N rates between)",
    )
    group.add_argument(
        "--slo",
        type=_slo,
        action="append",
        default=[],
        metavar="NAME:MS",
        help="a latency target in ms (repeatable): ttft, ttft_visible, tpot, itl, e2el; "
        "over the settings' [slo]. Gives attainment and goodput per step and model",
    )
    group.add_argument(
        "--slo-percentile",
        type=_percentile,
        metavar="P",
        help="the percentile the SLO search and a step's verdict judge (default 90)",
    )
    search = group.add_mutually_exclusive_group()
    search.add_argument(
        "--find-max-rate",
        action="store_true",
        help="search the highest rate whose p-th percentiles meet the SLOs (bisection)",
    )
    search.add_argument(
        "--find-max-concurrency",
        action="store_true",
        help="search the highest concurrency whose p-th percentiles meet the SLOs",
    )
    group.add_argument(
        "--search-precision",
        type=_fraction,
        metavar="X",
        help="the rate search stops when its bracket is narrower than X of the rate (default 0.05)",
    )
    group.add_argument(
        "--repeat", type=_count, metavar="N", help="run the plan (or each step) N times"
    )
    group.add_argument(
        "--step-duration",
        type=_positive,
        metavar="S",
        help="a step's length without --duration/--requests (default 10)",
    )
    group.add_argument(
        "--sweep-error-budget",
        type=_fraction,
        metavar="X",
        help="stop the sweep after a step where more than X (0..1) failed (default 0.1)",
    )
    group.add_argument(
        "--no-early-stop",
        action="store_true",
        help="run every step of the sweep, even past saturation",
    )


def wants_steps(args: argparse.Namespace) -> bool:
    """A sweep, a search, repeats or SLOs were asked for (the run goes by steps)."""
    return bool(
        getattr(args, "sweep", None)
        or getattr(args, "find_max_rate", False)
        or getattr(args, "find_max_concurrency", False)
        or getattr(args, "repeat", None)
        or getattr(args, "slo", None)
    )


def _searching(args: argparse.Namespace) -> bool:
    return bool(args.find_max_rate or args.find_max_concurrency)


def job_from_args(args: argparse.Namespace, settings: Settings) -> Job | None:
    """The job and the SLOs the flags ask for (``None``: a single run, as before).
    Raises :class:`SweepArgsError` naming the flag."""
    from ometer_tui.core.bench.slo import SloError, targets_from_args

    try:
        slo = targets_from_args(args.slo, settings.slo, args.slo_percentile)
    except SloError as exc:  # checked by argparse already; the settings' are too
        raise SweepArgsError(str(exc)) from None
    searching = _searching(args)
    flag = "--find-max-rate" if args.find_max_rate else "--find-max-concurrency"
    if searching and args.sweep is not None:
        raise SweepArgsError(f"{flag} and --sweep: give one, not both")
    if searching and slo.empty:
        raise SweepArgsError(
            f"{flag}: give the targets with --slo NAME:MS (or the settings' [slo])"
        )
    if searching and args.repeat:
        raise SweepArgsError(f"--repeat: not with {flag} (each probe runs once)")
    if args.search_precision is not None and not args.find_max_rate:
        raise SweepArgsError("--search-precision: applies to --find-max-rate")
    if args.sweep is None and (args.sweep_error_budget is not None or args.no_early_stop):
        which = "--sweep-error-budget" if args.sweep_error_budget is not None else "--no-early-stop"
        raise SweepArgsError(f"{which}: applies to --sweep")
    if args.step_duration is not None and args.sweep is None and not searching:
        raise SweepArgsError("--step-duration: applies to --sweep and --find-max-*")
    _check_loads(args)
    if not wants_steps(args) and slo.empty:
        return None  # a single run, as before (SLOs from the flags or [slo] make it a step)
    from ometer_tui.core.bench.steps import DEFAULT_MAX_ERROR_RATE, LoadKind
    from ometer_tui.core.bench.sweep import DEFAULT_PRECISION, SweepJob

    sweep = args.sweep
    if sweep is not None:
        from dataclasses import replace

        sweep = replace(
            sweep,
            max_error_rate=args.sweep_error_budget or DEFAULT_MAX_ERROR_RATE,
            early_stop=not args.no_early_stop,
        )
    find_max = None
    if searching:
        find_max = LoadKind.RATE if args.find_max_rate else LoadKind.CONCURRENCY
    job = SweepJob(
        sweep=sweep,
        find_max=find_max,
        precision=args.search_precision or DEFAULT_PRECISION,
        repeat=args.repeat or 1,
    )
    return job, slo


def _check_loads(args: argparse.Namespace) -> None:
    """A sweep or search sets each step's load: a flag giving the same load would be
    ignored, so it is refused (one line naming both)."""
    sweep = args.sweep
    kind = None if sweep is None else sweep.kind.value
    if args.find_max_rate:
        kind = "rate"
    elif args.find_max_concurrency:
        kind = "concurrency"
    if kind is None:
        return
    what = f"--sweep {sweep.describe()}" if sweep is not None else "--find-max-" + kind
    if getattr(args, "rate", None) is not None:
        if kind == "rate":
            raise SweepArgsError(f"--rate: {what} sets each step's rate; give one, not both")
        raise SweepArgsError(f"--rate: {what} runs closed-loop steps (rates: --sweep rate=...)")
    if kind == "concurrency" and getattr(args, "concurrency", None) is not None:
        raise SweepArgsError(f"--concurrency: {what} sets each step's streams; give one, not both")


def apply_step_defaults(args: argparse.Namespace) -> None:
    """A sweep or search whose load flags give no --duration/--requests: each step
    lasts --step-duration (so the load flags validate)."""
    from ometer_tui.workload_args import wants_load

    stepping = getattr(args, "sweep", None) is not None or _searching(args)
    if stepping and args.duration is None and args.requests is None and wants_load(args):
        from ometer_tui.core.bench.sweep import DEFAULT_STEP_DURATION_S

        args.duration = args.step_duration or DEFAULT_STEP_DURATION_S


def make_runner(
    job: Job,
    plan: BenchmarkPlan,
    telemetry: TelemetryHook,
    args: argparse.Namespace,
    err: TextIO,
    runner_factory: MakeRunner | None = None,
) -> SweepRunner:
    """The runner of the steps: a line per step on ``err`` (none per request), the
    engine's events to the telemetry."""
    from ometer_tui.core.bench.sweep import DEFAULT_STEP_DURATION_S, SweepRunner
    from ometer_tui.core.bench.sweep_form import first_start_only

    sweep_job, slo = job
    tee = telemetry.tee(_ignore)
    progress = StepProgress(err, quiet=args.quiet, sink=first_start_only(tee))
    if not args.quiet:
        bits = [sweep_job.describe()]
        if not slo.empty:
            bits.append(f"SLOs {slo.describe()} at p{slo.percentile:g}")
        print(f"ometer-tui: {', '.join(bits)}", file=err, flush=True)
    return SweepRunner(
        plan,
        progress,
        slo=slo,
        default_duration_s=args.step_duration or DEFAULT_STEP_DURATION_S,
        job=sweep_job,
        runner_factory=runner_factory,  # --workers: each step split the same way
    )


def _ignore(event: BenchmarkEvent) -> None:
    del event


class StepProgress:
    """One line per step on stderr as it finishes (no line per request), then what the
    series came to; every event is also passed on to ``sink``."""

    def __init__(self, stream: TextIO, *, quiet: bool, sink: EventSink) -> None:
        self.stream = stream
        self.quiet = quiet
        self.sink = sink
        self.done = 0

    def __call__(self, event: object) -> None:
        from ometer_tui.core.bench.steps import StepFinished, StepStarted, SweepFinished

        if isinstance(event, StepStarted | StepFinished | SweepFinished):
            if not self.quiet:
                for line in step_event_lines(event):
                    print(line, file=self.stream, flush=True)
            return
        self.sink(event)  # type: ignore[arg-type]


def step_event_lines(event: SweepEvent) -> list[str]:
    """The stderr lines of a sweep event."""
    from ometer_tui.core.bench.steps import StepFinished, SweepFinished
    from ometer_tui.core.sweep_doc import outcome_lines
    from ometer_tui.core.units import format_seconds

    if isinstance(event, StepFinished):
        step = event.step
        head = f"  step {step.index}"
        if step.repeat or step.role == "repeat":
            head += f" repeat {step.repeat + 1}"
        if step.role in ("anchor", "probe"):
            head += f" ({step.role})"
        head += f", {step.load.label()}, {step.duration_s:.1f} s"
        if step.cancelled:
            head += " (cancelled)"
        elif event.saturated:
            head += f" (saturated: {', '.join(event.saturated)})"
        lines = [head + ":"]
        for m in step.models:
            p = m.point(step.load.value)
            s = m.summary
            parts = [f"{s.ok} ok, {s.errors} failed"]
            if p.throughput_rps is not None:
                parts.append(f"{p.throughput_rps:.2f} req/s")
            if p.output_tps is not None:
                parts.append(f"{p.output_tps:.1f} tok/s")
            if p.ttft_p50_s is not None:
                parts.append(
                    f"TTFT p50 {format_seconds(p.ttft_p50_s)} p99 {format_seconds(p.ttft_p99_s)}"
                )
            if m.slo is not None and m.slo.attainment is not None:
                parts.append(
                    f"goodput {m.slo.goodput_rps or 0:.2f} req/s ({m.slo.attainment:.0%} met)"
                )
            lines.append(f"    {m.model}: " + ", ".join(parts))
        if event.verdict:
            lines.append(f"    {event.verdict}")
        return lines
    if isinstance(event, SweepFinished):
        lines = [f"  {line}" for line in outcome_lines(event.record)]
        if event.cancelled:
            lines.append("  cancelled: finished steps and runs are kept")
        return lines
    return []


def exit_code(result: BenchmarkResult) -> int:
    """After a series of steps. With SLOs: 0 when a step met them (the search found a
    load), else 1 (runs failing at loads past the knee are what a sweep looks for).
    Without: 1 when runs failed, else 0."""
    from ometer_tui.exit_codes import EXIT_OK, EXIT_RUNS_FAILED, EXIT_SLO_MISSED

    record = result.sweep
    if record is not None and not record.slo.empty:
        if record.search is not None:
            return EXIT_OK if record.search.best is not None else EXIT_SLO_MISSED
        return EXIT_OK if record.any_meets_slo else EXIT_SLO_MISSED
    failed = any(m.summary is not None and m.summary.errors for m in result.models.values())
    return EXIT_RUNS_FAILED if failed else EXIT_OK
