"""``ometer-tui history ...`` and ``ometer-tui compare``, and saving a headless run.

Hooks for cli.py / headless.py (kept to a few lines there):

* :func:`add_history_options` adds ``--history PATH`` / ``--no-history`` to a parser;
* :func:`add_commands` adds the ``history`` and ``compare`` subcommands;
* :func:`main` runs them (``args.command`` is ``history`` or ``compare``);
* :func:`save_after_run` saves a finished or cancelled headless result.

Exit codes: 0 ok; 1 the gate failed (``compare --fail-on``); 2 bad input (unknown id,
unreadable or foreign file, nothing to pair, a damaged or newer history file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ometer_tui.exit_codes import EXIT_OK, EXIT_RUNS_FAILED, EXIT_USAGE

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult
    from ometer_tui.core.history import HistorySettings, HistoryStore, SaveOutcome

EXIT_GATE_FAILED = EXIT_RUNS_FAILED  # 1: a metric is significantly worse than allowed

_ID = re.compile(r"^#?(\d+)$")


class _BadInput(Exception):
    """Exit code 2 with this message."""


# --------------------------------------------------------------------------- parsers


def add_history_options(
    parser: argparse.ArgumentParser, *, top_level: bool = False, saving: bool = True
) -> None:
    """``--history PATH`` and (``saving``) ``--no-history``. On a subcommand they
    default to "not given" so the same options before the subcommand are kept."""
    default: Any = None if top_level else argparse.SUPPRESS
    parser.add_argument(
        "--history",
        metavar="PATH",
        default=default,
        help="history database (default: $OMETER_TUI_HISTORY, else the user data folder)",
    )
    if not saving:
        return
    parser.add_argument(
        "--no-history",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="do not save results to the history",
    )


def add_commands(sub: Any) -> None:
    """Add ``history`` and ``compare`` to the subparsers action ``sub``."""
    fmt = argparse.RawDescriptionHelpFormatter
    hist = sub.add_parser(
        "history",
        help="list, show, export, delete or import stored results",
        description="Every benchmark that measured a run is kept in the history.",
        formatter_class=fmt,
    )
    add_history_options(hist, saving=False)
    hsub = hist.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    lst = hsub.add_parser("list", help="stored results, newest first")
    lst.add_argument("--json", action="store_true", help="as JSON")
    lst.add_argument("--limit", type=int, metavar="N", help="only the newest N")
    show = hsub.add_parser("show", help="one stored result")
    show.add_argument("id", metavar="ID")
    show.add_argument("--format", choices=("table", "md", "json", "csv", "html"), default="table")
    exp = hsub.add_parser("export", help="write a stored result to a file")
    exp.add_argument("id", metavar="ID")
    exp.add_argument("--output", metavar="PATH", required=True)
    exp.add_argument(
        "--format",
        choices=("json", "csv", "md", "html"),
        help="default: from the file name, else json",
    )
    dele = hsub.add_parser("delete", help="remove a stored result")
    dele.add_argument("id", metavar="ID")
    imp = hsub.add_parser("import", help="add JSON exports (e.g. from CI machines)")
    imp.add_argument("files", metavar="FILE", nargs="+")
    label = hsub.add_parser("label", help="set (or clear with '') a result's label")
    label.add_argument("id", metavar="ID")
    label.add_argument("label", metavar="TEXT")

    cmp = sub.add_parser(
        "compare",
        help="A/B comparison with a verdict on noise; a regression gate for CI",
        description="Compare two results (history ids or JSON export files) model by "
        "model, or two models of one result (give one result and two --model).",
        epilog="exit codes:\n  0  compared (and no --fail-on rule broken)\n"
        "  1  a --fail-on metric is significantly worse in B by more than PCT\n"
        "  2  bad input (unknown id, unreadable or foreign file, nothing to pair)\n\n"
        "metrics: ttft_p50 ttft_p90 ttft_visible_p50 decode_tps e2e_p50\n"
        "         request_throughput error_rate (PCT in percentage points)",
        formatter_class=fmt,
    )
    add_history_options(cmp, saving=False)
    cmp.add_argument("a", metavar="A", help="history id (e.g. 12 or #12) or JSON export file")
    cmp.add_argument("b", metavar="B", nargs="?", help="the same; omit to compare two models of A")
    cmp.add_argument("--format", choices=("table", "json", "md", "csv"), default="table")
    cmp.add_argument(
        "--fail-on",
        metavar="METRIC:PCT",
        action="append",
        default=[],
        help="exit 1 when METRIC is significantly worse in B by more than PCT %% (repeatable)",
    )
    cmp.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="compare only this model (repeatable); two names pair those two rows",
    )
    cmp.add_argument("--output", metavar="PATH", help="write the comparison here too")


# --------------------------------------------------------------------------- helpers


def _settings_history(args: argparse.Namespace) -> HistorySettings:
    """The ``[history]`` settings of the settings file (``--config``); the defaults
    when the file cannot be read (the history commands do not need the rest) or while
    the settings model has no ``history`` table."""
    from ometer_tui.core.history import HistorySettings, history_settings_of
    from ometer_tui.core.settings import SettingsError, config_path, load_settings

    try:
        return history_settings_of(load_settings(Path(config_path(args.config))))
    except (SettingsError, OSError):
        return HistorySettings()


def _path(args: argparse.Namespace, settings: HistorySettings | None = None) -> Path:
    from ometer_tui.core.history import history_path

    return history_path(getattr(args, "history", None), settings or _settings_history(args))


def _parse_id(text: str) -> int:
    match = _ID.match(text.strip())
    if match is None:
        raise _BadInput(f"{text!r} is not a history id (a number, e.g. 12)")
    return int(match.group(1))


def _open(path: Path, *, must_exist: bool) -> HistoryStore:
    from ometer_tui.core.history import HistoryError, HistoryStore

    if must_exist and not path.exists():
        raise _BadInput(f"no history yet at {path}")
    try:
        return HistoryStore(path)
    except HistoryError as exc:
        raise _BadInput(str(exc)) from None


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _render(doc: dict[str, Any], fmt: str) -> str:
    from ometer_tui.core.export import csv_from_dict, to_markdown
    from ometer_tui.core.export_read import ForeignDocumentError, result_from_dict

    if fmt == "json":
        return _dump(doc)
    try:
        if fmt == "csv":
            return csv_from_dict(doc)
        if fmt == "html":
            from ometer_tui.core.report import to_html

            return to_html(doc)
        return to_markdown(result_from_dict(doc))
    except ForeignDocumentError as exc:
        raise _BadInput(str(exc)) from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise _BadInput(f"a field of the stored result is not as exported ({exc})") from None


# --------------------------------------------------------------------------- history


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``history ...`` or ``compare``; returns the exit code."""
    from ometer_tui.core.history import HistoryError

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        if args.command == "compare":
            return _compare(args, out, err)
        return _history(args, out, err)
    except _BadInput as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE
    except HistoryError as exc:
        print(f"ometer-tui: {exc}", file=err)
        return EXIT_USAGE


def _history(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ometer_tui.core.history import UnknownResultError

    path = _path(args)
    action = args.history_command
    if action == "list":
        if not path.exists():
            entries = []
        else:
            with _open(path, must_exist=True) as store:
                entries = store.entries(limit=args.limit)
        if args.json:
            out.write(_dump({"path": str(path), "results": [e.as_dict() for e in entries]}))
        elif not entries:
            print(f"ometer-tui: no results in the history ({path})", file=err)
        else:
            out.write(_list_table(entries))
        return EXIT_OK
    if action == "import":
        return _import(args.files, path, out, err)
    result_id = _parse_id(args.id)
    with _open(path, must_exist=True) as store:
        try:
            if action == "show":
                doc = store.document(result_id)
                text = _render(doc, "md" if args.format == "table" else args.format)
                if args.format == "table":
                    entry = store.entry(result_id)
                    label = f" [{entry.label}]" if entry.label else ""
                    text = f"History #{result_id}{label} ({path})\n\n{text}"
                out.write(text)
            elif action == "export":
                return _export(store.document(result_id), args, err)
            elif action == "delete":
                store.delete(result_id)
                print(f"ometer-tui: deleted #{result_id} from {path}", file=err)
            elif action == "label":
                store.set_label(result_id, args.label)
        except UnknownResultError as exc:
            raise _BadInput(str(exc)) from None
    return EXIT_OK


def _export(doc: dict[str, Any], args: argparse.Namespace, err: TextIO) -> int:
    from ometer_tui.core.atomic import write_atomic
    from ometer_tui.core.export import ExportFormat

    target = Path(args.output).expanduser()
    fmt = ExportFormat(args.format) if args.format else ExportFormat.from_path(target)
    try:
        write_atomic(target, _render(doc, fmt.value), mode=0o644)
    except OSError as exc:
        raise _BadInput(f"--output: {exc}") from None
    print(f"ometer-tui: wrote {target}", file=err)
    return EXIT_OK


def _import(files: Sequence[str], path: Path, out: TextIO, err: TextIO) -> int:
    from ometer_tui.core.export_read import ForeignDocumentError, read_document, result_from_dict

    code = EXIT_OK
    docs: list[tuple[str, dict[str, Any]]] = []
    for name in files:
        try:
            doc = read_document(name)
            result_from_dict(doc)  # every field as exported, or refused here
            docs.append((name, doc))
        except ForeignDocumentError as exc:
            print(f"ometer-tui: {exc}", file=err)
            code = EXIT_USAGE
        except OSError as exc:
            print(f"ometer-tui: {name}: cannot read ({exc.strerror or exc})", file=err)
            code = EXIT_USAGE
    if docs:
        with _open(path, must_exist=False) as store:
            for name, doc in docs:
                existing = store.find_document(doc)
                if existing is not None:
                    print(f"ometer-tui: {name}: already in the history as #{existing}", file=err)
                    continue
                rid = store.add_document(doc)
                print(f"ometer-tui: imported {name} as #{rid}", file=err)
    return code


def _list_table(entries: Sequence[Any]) -> str:
    header = ("ID", "Started (UTC)", "Endpoint", "Models", "Plan", "Runs ok/failed", "Label")
    rows = [header]
    for e in entries:
        when = (e.started_at or "").replace("T", " ")[:19]
        models = ", ".join(e.models)
        if len(models) > 40:
            models = models[:39] + "…"
        marks = " (simulated)" if e.simulated and "simulated" not in e.endpoint else ""
        marks += " (cancelled)" if e.cancelled else ""
        rows.append(
            (
                f"#{e.id}",
                when,
                e.endpoint + marks,
                models,
                e.plan,
                f"{e.ok}/{e.errors}",
                e.label or "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- compare


def _load_side(text: str, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """(document, source label) for a history id or a JSON export file."""
    from ometer_tui.core.export_read import ForeignDocumentError, read_document, result_from_dict
    from ometer_tui.core.history import UnknownResultError

    candidate = Path(text).expanduser()
    if candidate.exists() or not _ID.match(text.strip()):
        try:
            doc = read_document(candidate)
            result_from_dict(doc)  # every field as exported, or refused here
            return doc, candidate.name
        except ForeignDocumentError as exc:
            raise _BadInput(str(exc)) from None
        except OSError as exc:
            raise _BadInput(f"{text}: cannot read ({exc.strerror or exc})") from None
    result_id = _parse_id(text)
    with _open(_path(args), must_exist=True) as store:
        try:
            return store.document(result_id), f"history #{result_id}"
        except UnknownResultError as exc:
            raise _BadInput(str(exc)) from None


def _compare(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ometer_tui.core.atomic import write_atomic
    from ometer_tui.core.compare import (
        CompareError,
        compare_documents,
        comparison_to_csv,
        comparison_to_json,
        comparison_to_markdown,
        comparison_to_table,
        gate_failures,
        gate_unjudged,
        parse_fail_on,
    )

    try:
        rules = [parse_fail_on(text) for text in args.fail_on]
    except CompareError as exc:
        raise _BadInput(str(exc)) from None
    doc_a, source_a = _load_side(args.a, args)
    doc_b, source_b = (None, source_a) if args.b is None else _load_side(args.b, args)
    if doc_b is not None and source_b == source_a:
        source_a, source_b = f"A: {source_a}", f"B: {source_b}"
    try:
        comparison = compare_documents(
            doc_a, doc_b, args.model, source_a=source_a, source_b=source_b
        )
    except CompareError as exc:
        raise _BadInput(str(exc)) from None
    render = {
        "table": comparison_to_table,
        "json": comparison_to_json,
        "md": comparison_to_markdown,
        "csv": comparison_to_csv,
    }[args.format]
    text = render(comparison)
    out.write(text)
    out.flush()
    if args.output:
        target = Path(args.output).expanduser()
        try:
            write_atomic(target, text, mode=0o644)
        except OSError as exc:
            raise _BadInput(f"--output: {exc}") from None
    failures = gate_failures(comparison, rules)
    for line in failures:
        print(f"ometer-tui: gate: {line}", file=err)
    for line in gate_unjudged(comparison, rules):
        print(f"ometer-tui: gate: warning: {line}", file=err)
    if rules and not failures:
        print(
            f"ometer-tui: gate passed: nothing significantly worse beyond "
            f"{', '.join(args.fail_on)}",
            file=err,
        )
    return EXIT_GATE_FAILED if failures else EXIT_OK


# --------------------------------------------------------------------------- saving


def measured_anything(result: BenchmarkResult) -> bool:
    """True when at least one measured (not warm-up) run finished."""
    return any(not r.warmup for m in result.models.values() for r in m.records)


def save_after_run(
    args: argparse.Namespace,
    result: BenchmarkResult,
    err: TextIO,
    settings: HistorySettings | None = None,
) -> SaveOutcome | None:
    """Save a headless result (finished or cancelled) unless history is off or nothing
    was measured; say where on stderr (unless ``--quiet``), or why not (always). Never
    raises for a history problem: the result is still written as asked."""
    from ometer_tui.core.history import save_result

    hs = settings or _settings_history(args)
    if getattr(args, "no_history", False) or not hs.enabled:
        return None
    if not measured_anything(result):
        return None
    path = _path(args, hs)
    if not getattr(args, "quiet", False):
        _print_trends(result, path, err)
    outcome = save_result(result, path)
    if outcome.saved:
        if not getattr(args, "quiet", False):
            print(f"ometer-tui: saved to history as #{outcome.id} ({outcome.path})", file=err)
    else:
        print(f"ometer-tui: not saved to history: {outcome.reason}", file=err)
    return outcome


def _print_trends(result: BenchmarkResult, path: Path, err: TextIO) -> None:
    """Per model, the change against the latest comparable result in the history (same
    endpoint, model and workload), beyond noise or not. Silent when there is none or the
    history cannot be read (saving says why)."""
    from ometer_tui.core.compare import trend_line
    from ometer_tui.core.trends import find_trends

    for key, trend in find_trends(path, result).items():
        name = result.models[key].info.name
        entry = trend.baseline
        when = (entry.started_at or "").replace("T", " ")[:16]
        print(f"ometer-tui: {name} vs #{entry.id} ({when}): {trend_line(trend.pair)}", file=err)
