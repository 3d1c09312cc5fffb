"""Command line: the TUI (default), ``run`` (headless benchmark), ``calibrate``,
``demo-server``.

Imports stay lazy so ``--help`` and ``--version`` answer without loading Textual or httpx.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ometer_tui import __version__
from ometer_tui.arg_types import number
from ometer_tui.exit_codes import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE

_positive_int = number(int, minimum=1, inclusive=True)
_non_negative_int = number(int, minimum=0, inclusive=True)
_positive_float = number(float, minimum=0, inclusive=False)
_non_negative_float = number(float, minimum=0, inclusive=True)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError("expected 'Name: value'")
    return name.strip(), value.strip()


class _Parser(argparse.ArgumentParser):
    """Usage errors in two lines: what is wrong, then where the options are listed
    (argparse prints the whole usage, 16 lines for ``run``, before the useful line)."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            EXIT_USAGE, f"{self.prog}: {message}\n  (`{self.prog} --help` lists the options)\n"
        )


def _parser_for(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The subcommand's parser (``run``...), else ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            chosen: argparse.ArgumentParser = action.choices[command]
            return chosen
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ometer-tui",
        description="Benchmark Ollama and OpenAI-compatible LLM endpoints: a full-screen "
        "dashboard by default, `run` for headless use.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ometer-tui {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="settings file (default: $OMETER_TUI_CONFIG, else the user config folder)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="add the built-in simulated demo endpoint"
    )
    from ometer_tui import history_cli  # history and compare (lazy: not at import time)

    history_cli.add_history_options(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run a benchmark without the TUI",
        description="Run a benchmark headless. Data goes to stdout (or --output), "
        "progress to stderr.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = run.add_argument_group("endpoint")
    from ometer_tui.endpoint_args import add_endpoint_options  # repeatable: several endpoints

    add_endpoint_options(where)
    from ometer_tui.api_args import add_api_options  # --api, --profile, --drop-unsupported...

    add_api_options(where)
    where.add_argument(
        "--demo",
        action="store_true",
        default=argparse.SUPPRESS,  # so `ometer-tui --demo run` keeps the global flag
        help="use the built-in demo endpoint",
    )
    where.add_argument("--token-env", metavar="VAR", help="bearer token from this env variable")
    where.add_argument("--api-key-env", metavar="VAR", help="API key from this env variable")
    where.add_argument(
        "--api-key-header", metavar="NAME", default="X-API-Key", help="header for --api-key-env"
    )
    where.add_argument(
        "--header",
        metavar="'K: V'",
        type=_header,
        action="append",
        default=[],
        help="extra request header (repeatable)",
    )
    where.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="allow sending a token over plain http to a non-loopback host",
    )
    what = run.add_argument_group("workload")
    what.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="model name or family prefix; =NAME: that model even if not listed "
        "(repeatable; default: all)",
    )
    prompt = what.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", action="append", metavar="TEXT", help="prompt (repeatable)")
    prompt.add_argument("--prompts", metavar="FILE", help="file with one prompt per line")
    what.add_argument("--image", metavar="FILE", help="image sent with prompts to vision models")
    what.add_argument(
        "--completions",
        action="store_true",
        help="use /api/generate or /v1/completions instead of chat",
    )
    how = run.add_argument_group("load")
    how.add_argument("--passes", type=_positive_int, help="passes over the prompts")
    how.add_argument("--warmup", type=_non_negative_int, help="warm-up requests per model")
    how.add_argument("--concurrency", type=_positive_int, help="in-flight requests per model")
    how.add_argument("--parallel-models", type=_positive_int, help="models run at once")
    how.add_argument("--rpm", type=_positive_float, help="requests per minute limit")
    how.add_argument("--tpm", type=_positive_float, help="tokens per minute limit")
    how.add_argument(
        "--retries",
        type=_non_negative_int,
        help="retries before the first byte (default 2)",
    )
    how.add_argument(
        "--timeout", type=_positive_float, metavar="S", help="whole-request timeout in seconds"
    )
    from ometer_tui.worker_args import add_worker_arguments

    add_worker_arguments(how)
    from ometer_tui.workload_args import add_load_arguments

    add_load_arguments(run)
    from ometer_tui.preset_args import add_preset_argument

    add_preset_argument(run)
    from ometer_tui.sweep_args import add_sweep_arguments

    add_sweep_arguments(run)
    gen = run.add_argument_group("generation")
    gen.add_argument("--max-tokens", type=_positive_int)
    gen.add_argument("--temperature", type=_non_negative_float)
    gen.add_argument("--top-p", type=_non_negative_float)
    gen.add_argument("--top-k", type=_positive_int)
    gen.add_argument("--seed", type=int)
    gen.add_argument(
        "--stop", action="append", default=[], metavar="TEXT", help="stop sequence (repeatable)"
    )
    gen.add_argument("--frequency-penalty", type=float, metavar="X")
    gen.add_argument("--presence-penalty", type=float, metavar="X")
    gen.add_argument(
        "--response-format",
        metavar="json|FILE",
        help="ask for JSON output: 'json', or a JSON schema file",
    )
    gen.add_argument(
        "--keep-alive",
        metavar="DURATION",
        help="Ollama keep_alive, e.g. 5m (how long the model stays loaded)",
    )
    gen.add_argument(
        "--price-in", type=_non_negative_float, metavar="USD", help="price per million input tokens"
    )
    gen.add_argument(
        "--price-out",
        type=_non_negative_float,
        metavar="USD",
        help="price per million output tokens",
    )
    out = run.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("json", "csv", "md", "table", "html"),
        help="output format (default: table on a terminal, else json; html: a "
        "self-contained report with charts)",
    )
    out.add_argument("--output", metavar="PATH", help="write the result here instead of stdout")
    out.add_argument("--quiet", action="store_true", help="no progress on stderr")
    history_cli.add_history_options(run)
    from ometer_tui.telemetry_args import add_telemetry_options

    add_telemetry_options(run)
    from ometer_tui.ray_args import add_ray_options

    add_ray_options(run)

    demo = sub.add_parser("demo-server", help="serve the simulated demo endpoint")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=11435)
    demo.add_argument(
        "--exit-with-parent",
        action="store_true",
        help=argparse.SUPPRESS,  # stop when standard input closes (the parent is gone)
    )
    history_cli.add_commands(sub)
    from ometer_tui.calibrate_cli import add_calibrate_command

    add_calibrate_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:  # named by the subcommand they were given to: `run --bogus` is run's error
        _parser_for(parser, args.command).error(f"unrecognized arguments: {' '.join(extras)}")
    if args.command == "run":
        try:  # ctrl+c while the engine's modules load is an interrupt, not a traceback
            from ometer_tui.headless import run_headless
        except KeyboardInterrupt:
            print("ometer-tui: interrupted before any run finished", file=sys.stderr, flush=True)
            # Not `return`: an interrupt that passed through an extension module's
            # PyRun_String while it loaded (Cython does) makes CPython end the process by
            # SIGINT at exit whatever the exit code; nothing is open or written yet.
            os._exit(EXIT_INTERRUPTED)
        return run_headless(args)
    if args.command in ("history", "compare"):
        from ometer_tui.history_cli import main as history_main

        return history_main(args)
    if args.command == "calibrate":
        from ometer_tui.calibrate_cli import main as calibrate_main

        return calibrate_main(args)
    if args.command == "demo-server":
        return _demo_server(args.host, args.port, exit_with_parent=args.exit_with_parent)
    return _tui(args)


def _exit_when_stdin_closes() -> None:
    """For a child demo server: the parent holds our stdin open; EOF means it is gone
    (even killed or crashed, when it had no chance to stop us), so we go too."""
    import threading

    def watch() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(4096):
                pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _tui(args: argparse.Namespace) -> int:
    from ometer_tui.core.settings import config_path

    path = config_path(args.config)
    from ometer_tui.tui.app import OmeterApp

    app = OmeterApp(
        config_path=Path(path), demo=args.demo, history=args.history,
        no_history=args.no_history,
    )  # fmt: skip
    app.run()
    return app.return_code or EXIT_OK  # 1 after a crash (Textual printed why)


def _demo_server(host: str, port: int, *, exit_with_parent: bool = False) -> int:
    import asyncio

    from ometer_tui.demo.server import serve

    if exit_with_parent:
        _exit_when_stdin_closes()

    def ready(url: str) -> None:
        print(f"ometer-tui demo endpoint (simulated) at {url}", flush=True)
        print("  Ollama API under /api, OpenAI-compatible API under /v1; ctrl+c stops.")

    try:
        asyncio.run(serve(host, port, on_ready=ready))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:
        print(f"ometer-tui: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
