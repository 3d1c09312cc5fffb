"""``ometer-tui run``: the same engine as the TUI, with data on stdout and progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from ometer_tui import api_args, ray_args, sweep_args, worker_args
from ometer_tui.core.api.base import ClientError, ErrorKind
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    RunFinished,
    RunRetrying,
    WorkerLoad,
)
from ometer_tui.core.bench.loop import run_engine
from ometer_tui.core.bench.metrics import stream_note, summary_stream_note
from ometer_tui.core.bench.plan import BenchmarkPlan, Prices
from ometer_tui.core.bench.plan_builder import PlanOverrides, checked_plan, plan_endpoint
from ometer_tui.core.bench.ray_shards import RayError
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import EndpointUnreachable
from ometer_tui.core.bench.shards import Runner, WorkerFailed
from ometer_tui.core.bench.worker_view import WorkerBoard, overload_text
from ometer_tui.core.discovery import default_models, discover_models
from ometer_tui.core.export import ExportFormat
from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    ModelInfo,
    ResponseFormat,
)
from ometer_tui.core.report import render, write_export
from ometer_tui.core.secrets import SecretResolutionError, TokenRef
from ometer_tui.core.selection import AmbiguousModelName, select_models
from ometer_tui.core.settings import Settings, SettingsError, config_path, load_settings
from ometer_tui.demo.process import DemoProcessError
from ometer_tui.endpoint_args import (
    EndpointChoiceError,
    apis_given,
    endpoints_given,
    plan_for_endpoints,
    plan_header,
    row_label,
)
from ometer_tui.exit_codes import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNS_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from ometer_tui.telemetry_args import TelemetryHook

DEFAULT_URL = "http://localhost:11434"


class UsageError(Exception):
    """A problem with what the user asked for; exit code 2."""


def run_headless(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        settings = load_settings(Path(config_path(args.config)))
        try:  # --sweep, --slo, --find-max-*, --repeat (sweep_args.py): checked before a start
            steps = sweep_args.job_from_args(args, settings)
        except sweep_args.SweepArgsError as exc:
            raise UsageError(str(exc)) from None
        try:  # --ray (ray_args.py): a valid address, Ray installed
            ray_args.check(args)
        except ray_args.RayArgsError as exc:
            raise UsageError(str(exc)) from None
        with _endpoints_for(args, settings) as endpoints:
            if steps is not None and len(endpoints) > 1:
                raise UsageError(
                    "--sweep/--find-max-rate/--find-max-concurrency/--repeat: one endpoint at "
                    f"a time (got {len(endpoints)}: {', '.join(ep.name for ep in endpoints)})"
                )
            # the plan's timeouts (--timeout, else the defaults') bound discovery too
            endpoints = [plan_endpoint(settings.defaults, ep, args.timeout) for ep in endpoints]
            return _run(args, settings, endpoints, err, steps)
    except SettingsError as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE
    except DemoProcessError as exc:
        print(f"ometer-tui: --demo: {exc}", file=err)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # ctrl+c before the benchmark started (e.g. discovery)
        print("ometer-tui: interrupted before any run finished", file=err)
        return EXIT_INTERRUPTED


DEMO_ENDPOINT_NAME = "demo (simulated)"


@contextlib.contextmanager
def _endpoint_for(args: argparse.Namespace, settings: Settings) -> Iterator[Endpoint]:
    """The one endpoint the flags name (see :func:`_endpoints_for`)."""
    with _endpoints_for(args, settings) as endpoints:
        if len(endpoints) != 1:
            raise UsageError(f"{len(endpoints)} endpoints given where one is expected")
        yield endpoints[0]


@contextlib.contextmanager
def _endpoints_for(args: argparse.Namespace, settings: Settings) -> Iterator[list[Endpoint]]:
    """The endpoints the flags name, in order (``--endpoint`` and ``--url`` repeatable,
    see endpoint_args.py), with the endpoint flags (``--api``, ``--token-env``,
    ``--header``...) applied; ``--demo`` (before or after ``run``) starts the demo
    endpoint in a child process, and takes the same flags (``--demo --api ollama --api
    openai``: the demo through both of its APIs)."""
    given = endpoints_given(args)
    kinds = {kind for kind, _ in given}
    flags = (("--demo", args.demo), ("--endpoint", "endpoint" in kinds), ("--url", "url" in kinds))
    chosen = [flag for flag, on in flags if on]
    if args.demo and len(chosen) > 1:
        raise UsageError(f"{' and '.join(chosen)}: give one, not both")
    if args.demo:
        from ometer_tui.demo.process import demo_process

        demos = _demo_endpoints(args)  # checked before start
        with demo_process() as server:
            yield [replace(demo, url=server.url) for demo in demos]
        return
    endpoints = [_given_endpoint(kind, value, settings) for kind, value in given]
    if not endpoints:
        if settings.endpoints:
            endpoints = [settings.endpoints[0]]
        else:
            endpoints = [Endpoint(name="local ollama", url=DEFAULT_URL)]
    yield _with_each_flags(args, endpoints)


def _given_endpoint(kind: str, value: str, settings: Settings) -> Endpoint:
    if kind == "endpoint":
        endpoint = settings.endpoint(value)
        if endpoint is None:
            names = ", ".join(e.name for e in settings.endpoints) or "none saved"
            raise UsageError(f"--endpoint: no saved endpoint named {value!r} ({names})")
        return endpoint
    if not value.startswith(("http://", "https://")):
        raise UsageError(f"--url: expected http:// or https://, got {value!r}")
    return Endpoint(name=value, url=value)


def _demo_endpoints(args: argparse.Namespace) -> list[Endpoint]:
    """``--demo``: the demo endpoint, once per ``--api`` when several are given."""
    apis = list(getattr(args, "apis", None) or []) or [getattr(args, "api", None)]
    out = []
    for api in apis:
        demo = Endpoint(name=DEMO_ENDPOINT_NAME, url="http://127.0.0.1", simulated=True)
        demo = replace(demo, api=ApiFlavour.OLLAMA)
        if len(apis) > 1:  # names must differ: "demo ollama (simulated)"...
            demo = replace(demo, name=f"demo {api} (simulated)")
        one = argparse.Namespace(**{**vars(args), "api": api})
        try:  # --api llm-api / tgi: the demo serves those shapes too, with its demo key
            demo = api_args.demo_endpoint(one, demo)
        except api_args.ApiArgsError as exc:
            raise UsageError(str(exc)) from None
        out.append(_with_flags(one, demo))
    return out


def _with_each_flags(args: argparse.Namespace, endpoints: list[Endpoint]) -> list[Endpoint]:
    """Each endpoint with the endpoint flags applied, its own ``--api`` when given once
    per endpoint."""
    try:
        apis = apis_given(args, len(endpoints))
    except EndpointChoiceError as exc:
        raise UsageError(str(exc)) from None
    out = []
    for endpoint, api in zip(endpoints, apis, strict=True):
        out.append(_with_flags(argparse.Namespace(**{**vars(args), "api": api}), endpoint))
    names = [ep.name for ep in out]
    before = list(out)
    for i, ep in enumerate(before):  # one URL through two APIs: "URL [ollama]", "URL [openai]"
        same = [other.api for other in before if other.name == ep.name]
        if len(same) > 1 and ep.api is not None and len(set(same) - {None}) == len(same):
            out[i] = replace(ep, name=f"{ep.name} [{ep.api.value}]")
    if len(set(names)) < len(names) and len({ep.name for ep in out}) < len(out):
        twice = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"{twice!r} is given twice; give each endpoint once")
    return out


def _with_flags(args: argparse.Namespace, endpoint: Endpoint) -> Endpoint:
    """``endpoint`` with the endpoint flags applied; its credentials must resolve."""
    try:  # --api (a flavour or a profile), --profile, --drop-unsupported, --truncate
        changes = api_args.endpoint_changes(args, endpoint)
    except api_args.ApiArgsError as exc:
        raise UsageError(str(exc)) from None
    if args.token_env:
        changes["token"] = TokenRef(env=args.token_env)
    if args.api_key_env:
        changes["api_key"] = TokenRef(env=args.api_key_env)
        changes["api_key_header"] = args.api_key_header
    if args.header:
        changes["headers"] = {**endpoint.headers, **dict(args.header)}
    if args.allow_insecure_http:
        changes["allow_insecure_http"] = True
    endpoint = replace(endpoint, **changes)  # type: ignore[arg-type]
    try:
        endpoint.resolve_auth()
    except SecretResolutionError as exc:
        raise UsageError(str(exc)) from None
    return endpoint


def _run(
    args: argparse.Namespace,
    settings: Settings,
    endpoints: list[Endpoint],
    err: TextIO,
    steps: sweep_args.Job | None = None,
) -> int:
    quiet = args.quiet
    endpoint = endpoints[0]
    if args.output:  # before the benchmark, not after it: a run is not wasted on a typo
        folder = Path(args.output).expanduser().parent
        if not folder.is_dir():
            raise UsageError(f"--output: folder {folder} does not exist")
    availables: list[list[ModelInfo]] = []
    for endpoint in endpoints:
        try:
            availables.append(asyncio.run(discover_models(endpoint)))
        except ClientError as exc:
            print(f"ometer-tui: {endpoint.name} ({endpoint.display_url}): {exc}", file=err)
            if exc.error.kind in (ErrorKind.CONNECT, ErrorKind.TIMEOUT):
                return EXIT_UNREACHABLE
            return EXIT_USAGE if exc.error.kind is ErrorKind.CONFIG else EXIT_UNREACHABLE
    endpoint = endpoints[0]
    sweep_args.apply_step_defaults(args)  # a sweep's steps last --step-duration
    if len(endpoints) == 1:
        plan = _plan(args, settings, endpoint, availables[0])
    else:  # several endpoints: endpoint_args.py
        try:
            plan = plan_for_endpoints(
                args, settings.defaults, endpoints, availables, _overrides(args), err
            )
        except EndpointChoiceError as exc:
            raise UsageError(str(exc)) from None
    if not quiet:
        if steps is None:
            print(plan_header(plan), file=err)
        else:  # a sweep says its steps on the next line
            label = " [SIMULATED demo endpoint]" if endpoint.simulated else ""
            print(
                f"ometer-tui: {endpoint.name} ({endpoint.display_url}){label}: "
                f"{len(plan.models)} model(s), warm-up {plan.warmup} per step",
                file=err,
            )
    given = worker_args.workers_of(args, settings)  # --workers: worker_args.py
    workers = worker_args.choose(plan, given, err, quiet=quiet)
    refusal = worker_args.check(plan, workers)
    if refusal is not None:
        raise UsageError(refusal)
    make = worker_args.runner_factory(workers)
    worker_failed = False
    split = worker_args.describe(plan, workers)
    if split is not None and not quiet:
        print(split, file=err)
    progress = _Progress(err, quiet=quiet)
    # several endpoints: the first endpoint's server
    telemetry = TelemetryHook(args, endpoint, err, settings.telemetry)
    plan = ray_args.with_ray(args, plan)
    if plan.ray_address is not None:  # --ray (ray_args.py): the workers as Ray actors
        try:
            make = ray_args.runner_factory(plan, args, settings, err, quiet=quiet)
        except ray_args.RayArgsError as exc:
            raise UsageError(str(exc)) from None
        except ray_args.RayClusterUnreachable as exc:
            print(f"ometer-tui: {exc}", file=err)
            return EXIT_UNREACHABLE
    runner: Runner = (
        make(plan, telemetry.tee(progress))
        if steps is None
        else sweep_args.make_runner(steps, plan, telemetry, args, err, make)
    )
    try:
        result = run_engine(telemetry.around(runner, _run_with_signals(runner)))
    except EndpointUnreachable as exc:
        print(f"ometer-tui: {exc.endpoint or endpoint.name}: {exc}", file=err)
        return EXIT_UNREACHABLE
    # a second ctrl+c; a worker failed (with --ray: its actor or node lost)
    except (KeyboardInterrupt, WorkerFailed, RayError) as exc:
        worker_failed = not isinstance(exc, KeyboardInterrupt)
        if worker_failed:
            print(f"ometer-tui: {exc}; finished runs are kept", file=err)
        result = runner.result
        result.cancelled = True
    telemetry.report(result)
    from ometer_tui.core.history import history_settings_of
    from ometer_tui.history_cli import save_after_run

    # before the output: a bad --output loses nothing
    save_after_run(args, result, err, history_settings_of(settings))
    _write_output(args, result, err)
    if worker_failed:
        return EXIT_RUNS_FAILED
    if result.cancelled:
        return EXIT_INTERRUPTED
    if steps is not None:
        return sweep_args.exit_code(result)
    failed = any((m.summary is not None and m.summary.errors) for m in result.models.values())
    return EXIT_RUNS_FAILED if failed else EXIT_OK


async def _run_with_signals(runner: Runner) -> BenchmarkResult:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.cancel)
    try:
        return await runner.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def overrides_from_args(args: argparse.Namespace) -> PlanOverrides:
    """The plan overrides ``ometer-tui run``'s flags give (``None``: flag not given).

    Reads the files the flags name (prompts, image, JSON schema); raises
    :class:`UsageError` naming the flag."""
    try:
        prompts: tuple[str, ...] | None = None
        if args.prompts:
            prompts = read_prompts_file(Path(args.prompts))
        elif args.prompt:
            prompts = tuple(args.prompt)
        images = (read_image(Path(args.image)),) if args.image else None
    except InputFileError as exc:
        raise UsageError(
            f"--{'prompts' if 'prompts file' in str(exc) else 'image'}: {exc}"
        ) from None
    prices = None
    if args.price_in is not None or args.price_out is not None:
        prices = Prices(args.price_in or 0.0, args.price_out or 0.0)
    return PlanOverrides(
        prompts=prompts,
        passes=args.passes,
        warmup=args.warmup,
        concurrency=args.concurrency,
        parallel_models=args.parallel_models,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        stop=tuple(args.stop) or None,
        frequency_penalty=args.frequency_penalty,
        presence_penalty=args.presence_penalty,
        keep_alive=args.keep_alive,
        images=images,
        completion_api=args.completions or None,
        rpm=args.rpm,
        tpm=args.tpm,
        retries=args.retries,
        timeout_s=args.timeout,
        prices=prices,
        **_response_format(args.response_format),
    )


def _plan(
    args: argparse.Namespace, settings: Settings, endpoint: Endpoint, available: list[ModelInfo]
) -> BenchmarkPlan:
    if args.model:
        try:
            models, unmatched = select_models(available, args.model)
        except AmbiguousModelName as exc:
            raise UsageError(f"--model: {exc}") from None
        if unmatched:
            names = ", ".join(m.name for m in available) or "none"
            raise UsageError(
                f"--model: no model matches {', '.join(map(repr, unmatched))} (available: {names})"
            )
    else:
        models = default_models(endpoint, available)
    if not models:
        raise UsageError(f"{endpoint.name}: the server lists no models")
    plan, problems = checked_plan(settings.defaults, endpoint, models, _overrides(args))
    if plan is None:
        raise UsageError("; ".join(problems))
    return plan


def _overrides(args: argparse.Namespace) -> PlanOverrides:
    """The flags' overrides with the load flags (ometer_tui/workload_args.py), which the
    plan builder puts over the settings' [defaults] load keys."""
    from ometer_tui.core.bench.workloads.errors import WorkloadError
    from ometer_tui.preset_args import load_options

    try:
        load = load_options(args)  # the load flags over --preset's
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None
    return replace(overrides_from_args(args), load=load)


def _response_format(value: str | None) -> dict[str, Any]:
    """``--response-format``: ``json``, or the path of a JSON schema file."""
    if value is None:
        return {}
    if value == "json":
        return {"response_format": ResponseFormat.JSON}
    path = Path(value).expanduser()
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"--response-format: {path}: not found (give 'json' or a schema file)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"--response-format: {path}: not a JSON schema ({exc})") from None
    if not isinstance(schema, dict):
        raise UsageError(f"--response-format: {path}: a JSON schema must be an object")
    return {"response_format": ResponseFormat.JSON_SCHEMA, "json_schema": schema}


def _write_output(args: argparse.Namespace, result: BenchmarkResult, err: TextIO) -> None:
    if args.output:
        path = Path(args.output).expanduser()
        fmt = ExportFormat(args.format) if args.format else ExportFormat.from_path(path)
        try:
            written = write_export(result, fmt, path)
        except OSError as exc:
            print(f"ometer-tui: --output: {exc}", file=err)
            raise SystemExit(EXIT_USAGE) from None
        if not args.quiet:
            print(f"ometer-tui: wrote {written}", file=err)
        return
    if args.format:
        sys.stdout.write(render(result, ExportFormat(args.format)))
    elif sys.stdout.isatty():
        sys.stdout.write(render(result, ExportFormat.TABLE))
    else:
        sys.stdout.write(render(result, ExportFormat.JSON))
    sys.stdout.flush()


class _Progress:
    """Progress lines on stderr, one per finished run and per finished model, and a
    warning the first time a worker's lag p99 passes the limit; none when quiet (a
    busy machine lags now and then, and ``--quiet`` promises a silent stderr but for
    errors)."""

    def __init__(self, stream: TextIO, *, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.total = 0
        self.finished = 0
        self.workers = WorkerBoard()

    def __call__(self, event: BenchmarkEvent) -> None:
        if isinstance(event, WorkerLoad):
            said = self.workers.apply(event, time.monotonic())  # once per worker
            if said and not self.quiet:
                print(f"  warning: {overload_text(event)}", file=self.stream, flush=True)
            return
        if isinstance(event, BenchmarkStarted):
            self.total = event.total_runs
            return
        if isinstance(event, RunFinished):
            self.finished += 1
        if self.quiet:
            return
        if isinstance(event, RunFinished):
            r = event.record
            tag = "warm-up" if r.warmup else f"run {event.model_done}/{event.model_total}"
            if r.ok:
                detail = _run_figures(r.ttft_s, r.decode_tps, r.latency_s, r.cold)
                if note := stream_note(r):  # buffered (N tokens in M reads), not streamed
                    if r.not_streamed and r.e2e_s is not None:
                        note += f", e2e {r.e2e_s * 1000:.1f} ms"
                    detail = f"{detail}, {note}" if detail != "ok" else note
            else:
                detail = f"FAILED {r.error}"
            detail += api_args.run_notes(r)  # dropped parameters, not streamed, truncated
            attempts = f" ({r.attempts} attempts)" if r.attempts > 1 else ""
            print(
                f"  [{self.finished}/{self.total}] {row_label(r.model, event.endpoint)} {tag}: "
                f"{detail}{attempts}",
                file=self.stream,
                flush=True,
            )
        elif isinstance(event, RunRetrying):
            source = "as the server asks" if event.server_asked else "backoff"
            print(
                f"  {row_label(event.model, event.endpoint)}: attempt "
                f"{event.attempt}/{event.max_attempts} failed "
                f"({event.reason}); retrying in {event.wait_s:.1f} s ({source})",
                file=self.stream,
                flush=True,
            )
        elif isinstance(event, ModelFinished):
            s = event.summary
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.errors_by_kind.items()))
            streams = summary_stream_note(s)  # buffered / not streamed in n of m ok runs
            print(
                f"  {row_label(event.model, event.endpoint)}: {event.phase.value}, "
                f"{s.ok} ok, {s.errors} failed"
                + (f" (errors: {kinds})" if kinds else "")
                + (f"; {streams}" if streams else ""),
                file=self.stream,
                flush=True,
            )
            from ometer_tui.workload_args import describe_load

            if (load := describe_load(s.load)) is not None:
                print(f"    load: {load}", file=self.stream, flush=True)
        elif isinstance(event, BenchmarkFinished) and event.cancelled:
            print("  cancelled: finished runs are kept", file=self.stream, flush=True)


def _run_figures(ttft: float | None, tps: float | None, latency: float | None, cold: bool) -> str:
    parts = []
    if ttft is not None:
        parts.append(f"ttft {ttft * 1000:.1f} ms")
    if tps is not None:
        parts.append(f"{tps:.1f} tok/s")
    if latency is not None and ttft is None:
        parts.append(f"latency {latency * 1000:.1f} ms")
    if cold:
        parts.append("cold load")
    return ", ".join(parts) or "ok"
