"""``ometer-tui run``: the same engine as the TUI, with data on stdout and progress on stderr."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from ometer_tui import api_args
from ometer_tui.cli import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUNS_FAILED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from ometer_tui.core.api import open_client
from ometer_tui.core.api.base import ClientError, ErrorKind
from ometer_tui.core.bench.events import (
    BenchmarkEvent,
    BenchmarkFinished,
    BenchmarkStarted,
    ModelFinished,
    RunFinished,
)
from ometer_tui.core.bench.loop import run_engine
from ometer_tui.core.bench.plan import BenchmarkPlan, Prices, RateLimit, RetryPolicy
from ometer_tui.core.bench.result import BenchmarkResult
from ometer_tui.core.bench.runner import BenchmarkRunner, EndpointUnreachable
from ometer_tui.core.export import ExportFormat, render, write_export
from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    ModelInfo,
    ResponseFormat,
    TimeoutPolicy,
)
from ometer_tui.core.secrets import SecretResolutionError, TokenRef
from ometer_tui.core.selection import select_models
from ometer_tui.core.settings import Settings, SettingsError, config_path, load_settings
from ometer_tui.demo.process import DemoProcessError

DEFAULT_URL = "http://localhost:11434"


class UsageError(Exception):
    """A problem with what the user asked for; exit code 2."""


def run_headless(args: argparse.Namespace) -> int:
    err = sys.stderr
    try:
        settings = load_settings(Path(config_path(args.config)))
    except SettingsError as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE
    try:
        with _endpoint_for(args, settings) as endpoint:
            return _run(args, settings, endpoint, err)
    except UsageError as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE
    except DemoProcessError as exc:
        print(f"ometer-tui: --demo: {exc}", file=err)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # ctrl+c before the benchmark started (e.g. discovery)
        print("ometer-tui: interrupted before any run finished", file=err)
        return EXIT_INTERRUPTED


@contextlib.contextmanager
def _endpoint_for(args: argparse.Namespace, settings: Settings) -> Iterator[Endpoint]:
    """The endpoint the flags name; ``--demo`` starts the in-process demo endpoint."""
    if args.demo:
        from ometer_tui.demo.process import demo_process

        with demo_process() as server:
            demo = Endpoint(
                name="demo (simulated)",
                url=server.url,
                api=ApiFlavour.OPENAI if args.api == "openai" else ApiFlavour.OLLAMA,
                simulated=True,
            )
            yield api_args.demo_endpoint(args, demo)
        return
    if args.endpoint and args.url:
        raise UsageError("--endpoint and --url: give one, not both")
    if args.endpoint:
        endpoint = settings.endpoint(args.endpoint)
        if endpoint is None:
            names = ", ".join(e.name for e in settings.endpoints) or "none saved"
            raise UsageError(f"--endpoint: no saved endpoint named {args.endpoint!r} ({names})")
    elif args.url:
        if not args.url.startswith(("http://", "https://")):
            raise UsageError(f"--url: expected http:// or https://, got {args.url!r}")
        endpoint = Endpoint(name=args.url, url=args.url)
    elif settings.endpoints:
        endpoint = settings.endpoints[0]
    else:
        endpoint = Endpoint(name="local ollama", url=DEFAULT_URL)
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
    if args.timeout:
        t = endpoint.timeouts
        changes["timeouts"] = TimeoutPolicy(
            connect_s=min(t.connect_s, args.timeout),
            read_s=min(t.read_s, args.timeout),
            total_s=args.timeout,
        )
    endpoint = replace(endpoint, **changes)  # type: ignore[arg-type]
    try:
        endpoint.resolve_auth()
    except SecretResolutionError as exc:
        raise UsageError(str(exc)) from None
    yield endpoint


def _run(args: argparse.Namespace, settings: Settings, endpoint: Endpoint, err: TextIO) -> int:
    quiet = args.quiet
    if args.output:  # before the benchmark, not after it: a run is not wasted on a typo
        folder = Path(args.output).expanduser().parent
        if not folder.is_dir():
            raise UsageError(f"--output: folder {folder} does not exist")
    try:
        available = asyncio.run(_discover(endpoint))
    except ClientError as exc:
        print(f"ometer-tui: {endpoint.name} ({endpoint.display_url}): {exc}", file=err)
        if exc.error.kind in (ErrorKind.CONNECT, ErrorKind.TIMEOUT):
            return EXIT_UNREACHABLE
        return EXIT_USAGE if exc.error.kind is ErrorKind.CONFIG else EXIT_UNREACHABLE
    plan = _plan(args, settings, endpoint, available)
    if not quiet:
        label = " [SIMULATED demo endpoint]" if endpoint.simulated else ""
        print(
            f"ometer-tui: {endpoint.name} ({endpoint.display_url}){label}: "
            f"{len(plan.models)} model(s) x {plan.runs_per_model} run(s), "
            f"warm-up {plan.warmup}, concurrency {plan.concurrency}",
            file=err,
        )
    progress = _Progress(err, quiet=quiet)
    runner = BenchmarkRunner(plan, progress)
    try:
        result = run_engine(_run_with_signals(runner))
    except EndpointUnreachable as exc:
        print(f"ometer-tui: {endpoint.name}: {exc}", file=err)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # a second ctrl+c during shutdown
        result = runner.result
        result.cancelled = True
    from ometer_tui.core.history import history_settings_of
    from ometer_tui.history_cli import save_after_run

    # before the output: a bad --output loses nothing
    save_after_run(args, result, err, history_settings_of(settings))
    _write_output(args, result, err)
    if result.cancelled:
        return EXIT_INTERRUPTED
    failed = any((m.summary is not None and m.summary.errors) for m in result.models.values())
    return EXIT_RUNS_FAILED if failed else EXIT_OK


async def _discover(endpoint: Endpoint) -> list[ModelInfo]:
    from ometer_tui.core.api import detect_flavour

    flavour = endpoint.api or await detect_flavour(endpoint)
    client = open_client(endpoint, flavour=flavour, max_connections=8)
    try:
        return await client.list_models(details=True)
    finally:
        await client.aclose()


async def _run_with_signals(runner: BenchmarkRunner) -> BenchmarkResult:
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


def _plan(
    args: argparse.Namespace, settings: Settings, endpoint: Endpoint, available: list[ModelInfo]
) -> BenchmarkPlan:
    defaults = settings.defaults
    if args.model:
        models, unmatched = select_models(available, args.model)
        if unmatched:
            names = ", ".join(m.name for m in available) or "none"
            raise UsageError(
                f"--model: no model matches {', '.join(map(repr, unmatched))} (available: {names})"
            )
    else:
        models = [m for m in available if not (endpoint.simulated and m.family == "fault")]
    if not models:
        raise UsageError(f"{endpoint.name}: the server lists no models")
    try:
        if args.prompts:
            prompts = read_prompts_file(Path(args.prompts))
        elif args.prompt:
            prompts = tuple(args.prompt)
        else:
            prompts = tuple(defaults.prompts)
        images = (read_image(Path(args.image)),) if args.image else ()
    except InputFileError as exc:
        raise UsageError(
            f"--{'prompts' if 'prompts file' in str(exc) else 'image'}: {exc}"
        ) from None

    d = settings.defaults.for_endpoint(endpoint)
    prices = None
    if args.price_in is not None or args.price_out is not None:
        prices = Prices(args.price_in or 0.0, args.price_out or 0.0)
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=tuple(models),
        prompts=prompts,
        passes=d.passes if args.passes is None else args.passes,
        warmup=d.warmup if args.warmup is None else args.warmup,
        concurrency=d.concurrency if args.concurrency is None else args.concurrency,
        parallel_models=d.parallel_models if args.parallel_models is None else args.parallel_models,
        params=replace(
            d.generation_params(),
            **{
                k: v
                for k, v in (
                    ("max_tokens", args.max_tokens),
                    ("temperature", args.temperature),
                    ("top_p", args.top_p),
                    ("top_k", args.top_k),
                    ("seed", args.seed),
                    ("frequency_penalty", args.frequency_penalty),
                    ("presence_penalty", args.presence_penalty),
                    ("keep_alive", args.keep_alive),
                )
                if v is not None
            },
            stop=tuple(args.stop),
            **_response_format(args.response_format),
        ),
        images=images,
        rate_limit=RateLimit(args.rpm, args.tpm),
        retry=RetryPolicy(max_retries=args.retries),
        prices=prices,
        completion_api=args.completions,
    )
    problems = plan.validate()
    if problems:
        raise UsageError("; ".join(problems))
    return plan


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
        sys.stdout.write(render(result, ExportFormat.MD))
    else:
        sys.stdout.write(render(result, ExportFormat.JSON))
    sys.stdout.flush()


class _Progress:
    """Progress lines on stderr, one per finished run and per finished model."""

    def __init__(self, stream: TextIO, *, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.total = 0
        self.finished = 0

    def __call__(self, event: BenchmarkEvent) -> None:
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
            else:
                detail = f"FAILED {r.error}"
            detail += api_args.run_notes(r)  # dropped parameters, not streamed, truncated
            attempts = f" ({r.attempts} attempts)" if r.attempts > 1 else ""
            print(
                f"  [{self.finished}/{self.total}] {r.model} {tag}: {detail}{attempts}",
                file=self.stream,
                flush=True,
            )
        elif isinstance(event, ModelFinished):
            s = event.summary
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(s.errors_by_kind.items()))
            print(
                f"  {event.model}: {event.phase.value}, {s.ok} ok, {s.errors} failed"
                + (f" (errors: {kinds})" if kinds else ""),
                file=self.stream,
                flush=True,
            )
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
