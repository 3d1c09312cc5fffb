"""The history store: every benchmark result kept in one SQLite file.

One row per result. The row holds the JSON export document (:func:`export.to_dict`,
the same schema, so a result read back is equal to its JSON export), serialised compactly
and compressed with zlib, beside a few plain columns (date, endpoint, models, counts)
that listing reads without opening any document. The export is built from whitelisted
fields, so no token, API key or auth header ever reaches the database.

Robustness, because a benchmark must never be lost or stopped by its history:

* WAL journal and a busy timeout, so the TUI and a headless run can write at once;
* each result is written in one ``BEGIN IMMEDIATE`` transaction: a process killed
  mid-write leaves the result whole or absent and the file readable;
* a schema version (``PRAGMA user_version``) with migrations applied in order and
  recorded in the ``migrations`` table; a file from a newer version is not touched;
* every failure (damaged file, locked too long, newer schema, read-only disk, no space)
  is a :class:`HistoryError` whose message says why, and :func:`save_result` turns it into
  a :class:`SaveOutcome` rather than raising.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ometer_tui.core.bench.result import BenchmarkResult

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "HistoryEntry",
    "HistoryError",
    "HistorySettings",
    "HistoryStore",
    "SaveOutcome",
    "UnknownResultError",
    "default_history_path",
    "history_path",
    "history_settings_of",
    "history_table",
    "load_of",
    "measured_runs",
    "plan_summary",
    "read_history_table",
    "save_result",
    "workload_of",
]

#: environment variable naming the history file (``--history`` wins over it)
ENV_VAR = "OMETER_TUI_HISTORY"
#: the database schema this version writes (``PRAGMA user_version``)
SCHEMA_VERSION = 2
#: how long a writer waits for another one before giving up, by default
DEFAULT_BUSY_TIMEOUT_S = 5.0

_FILE_NAME = "history.sqlite3"
#: zlib level: 9 took twice the time of 6 on a 10,000-run document for 4% less space
_ZLIB_LEVEL = 6

#: Migrations, in order: (version reached, statements). Never edit a released one;
#: append a new one and bump :data:`SCHEMA_VERSION`.
_MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE results (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                saved_at TEXT NOT NULL,
                started_at TEXT,
                finished_at TEXT,
                endpoint TEXT NOT NULL,
                url TEXT NOT NULL,
                api TEXT,
                models TEXT NOT NULL,
                plan TEXT NOT NULL,
                runs INTEGER NOT NULL,
                ok INTEGER NOT NULL,
                errors INTEGER NOT NULL,
                simulated INTEGER NOT NULL,
                cancelled INTEGER NOT NULL,
                doc_schema INTEGER NOT NULL,
                doc BLOB NOT NULL
            )""",
            "CREATE INDEX results_started ON results(started_at)",
        ),
    ),
    (
        2,
        (
            "ALTER TABLE results ADD COLUMN label TEXT",
            "CREATE INDEX results_url ON results(url)",
        ),
    ),
)


class HistoryError(Exception):
    """The history cannot be read or written; the message says why (never a secret)."""


class UnknownResultError(HistoryError, KeyError):
    """No result has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown result"


@dataclass(frozen=True, slots=True)
class HistorySettings:
    """The ``[history]`` settings table: ``enabled`` (default true) and ``path``
    (default: the user data folder). ``--history`` / ``OMETER_TUI_HISTORY`` override
    ``path``; ``--no-history`` overrides ``enabled``."""

    enabled: bool = True
    path: str | None = None


def read_history_table(
    table: Mapping[str, Any], problems: list[str], warnings: list[str]
) -> HistorySettings:
    """The ``[history]`` table of the settings file; problems and unknown keys are
    appended (named ``history.<key>``) as the settings reader does for other tables."""
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"history.enabled: expected true or false, got {enabled!r}")
        enabled = True
    path = table.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        problems.append("history.path: expected a file path (text)")
        path = None
    for key in table:
        if key not in ("enabled", "path"):
            warnings.append(f"history.{key}: unknown key, ignored")
    return HistorySettings(enabled=enabled, path=path)


def history_table(settings: HistorySettings) -> dict[str, Any]:
    """The ``[history]`` table to write (only what differs from the defaults)."""
    out: dict[str, Any] = {}
    if not settings.enabled:
        out["enabled"] = False
    if settings.path:
        out["path"] = settings.path
    return out


def history_settings_of(settings: object) -> HistorySettings:
    """``settings.history`` when the settings model has it, else the defaults."""
    value = getattr(settings, "history", None)
    return value if isinstance(value, HistorySettings) else HistorySettings()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored result as listed (no document decompressed)."""

    id: int
    saved_at: str
    started_at: str | None
    finished_at: str | None
    endpoint: str
    url: str
    api: str | None
    models: tuple[str, ...]
    plan: str
    runs: int
    ok: int
    errors: int
    simulated: bool
    cancelled: bool
    label: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "saved_at": self.saved_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "endpoint": self.endpoint,
            "url": self.url,
            "api": self.api,
            "models": list(self.models),
            "plan": self.plan,
            "runs": self.runs,
            "ok": self.ok,
            "errors": self.errors,
            "simulated": self.simulated,
            "cancelled": self.cancelled,
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What :func:`save_result` did: the new id, or the reason nothing was saved."""

    path: Path
    id: int | None = None
    reason: str | None = None

    @property
    def saved(self) -> bool:
        return self.id is not None


# --------------------------------------------------------------------------- paths


def default_history_path() -> Path:
    """``platformdirs.user_data_dir("ometer-tui")/history.sqlite3``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("ometer-tui")) / _FILE_NAME


def history_path(
    cli_path: str | os.PathLike[str] | None = None,
    settings: HistorySettings | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """The history file: ``--history``, else ``$OMETER_TUI_HISTORY``, else the
    settings' ``path``, else :func:`default_history_path`."""
    environ = os.environ if env is None else env
    for candidate in (cli_path, environ.get(ENV_VAR), settings.path if settings else None):
        if candidate:
            return Path(candidate).expanduser()
    return default_history_path()


# --------------------------------------------------------------------------- documents


def _encode(doc: Mapping[str, Any]) -> bytes:
    text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return zlib.compress(text.encode("utf-8"), _ZLIB_LEVEL)


def _decode(blob: bytes) -> dict[str, Any]:
    doc = json.loads(zlib.decompress(blob).decode("utf-8"))
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def measured_runs(doc: Mapping[str, Any]) -> tuple[int, int, int]:
    """(measured runs, ok, failed) over every model of an export document; warm-up
    runs are not counted."""
    runs = ok = 0
    for model in doc.get("models") or []:
        for run in model.get("runs") or []:
            if run.get("warmup"):
                continue
            runs += 1
            ok += 1 if run.get("ok") else 0
    return runs, ok, runs - ok


def plan_summary(doc: Mapping[str, Any]) -> str:
    """A short description of the workload, e.g. ``3 passes × 2 prompts, c1, max 128``."""
    plan = doc.get("plan") or {}
    prompts = len(plan.get("prompts") or [])
    passes = plan.get("passes")
    pass_word = "pass" if passes == 1 else "passes"
    prompt_word = "prompt" if prompts == 1 else "prompts"
    bits = [f"{passes} {pass_word} × {prompts} {prompt_word}"]
    bits.append(f"c{plan.get('concurrency')}")
    max_tokens = (plan.get("params") or {}).get("max_tokens")
    if max_tokens is not None:
        bits.append(f"max {max_tokens}")
    if plan.get("completion_api"):
        bits.append("completions")
    return ", ".join(bits)


def workload_of(doc: Mapping[str, Any]) -> tuple[object, ...]:
    """What must match for two results to be comparable as a trend: API, prompts,
    max tokens, concurrency, completions API, and the other generation parameters."""
    plan = doc.get("plan") or {}
    params = dict(plan.get("params") or {})
    return (
        (doc.get("endpoint") or {}).get("api"),
        tuple(plan.get("prompts") or ()),
        params.pop("max_tokens", None),
        plan.get("concurrency"),
        bool(plan.get("completion_api")),
        json.dumps(params, sort_keys=True),
    )


def load_of(doc: Mapping[str, Any], model: str) -> str | None:
    """What must also match for a trend when a load shaped the run (``--rate``,
    ``--input-tokens``...): the plan's ``load`` when the document has one, else what the
    model's load summary says of the spec (loop mode, offered rate, asked input and
    output lengths, turns). ``None`` when no load was used."""
    plan = doc.get("plan") or {}
    if plan.get("load") is not None:
        return json.dumps(plan["load"], sort_keys=True)
    for entry in doc.get("models") or []:
        if entry.get("name") != model:
            continue
        load = (entry.get("summary") or {}).get("load")
        if not isinstance(load, Mapping):
            return None
        asked = [load.get("input_tokens_asked_mean"), load.get("output_tokens_asked_mean")]
        return json.dumps(
            [
                load.get("mode"),
                load.get("offered_rate"),
                *(round(v) if isinstance(v, int | float) else None for v in asked),
                len(load.get("turns") or ()),
            ]
        )
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- the store


def _reason(path: Path, exc: BaseException) -> str:
    """A user-facing sentence for an sqlite3/OS failure on ``path``."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"history database {path} is busy (another ometer-tui holds it): {text}"
    if "readonly" in low or "read-only" in low or "read only" in low:
        return f"history database {path} is read-only: {text}"
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return (
            f"history database {path} is damaged ({text}); it was left as it is: "
            "move it away to start a new history"
        )
    if "unable to open" in low or isinstance(exc, OSError):
        return f"cannot open history database {path}: {text}"
    if "disk is full" in low or "disk i/o" in low:
        return f"history database {path}: {text}"
    return f"history database {path}: {text}"


class HistoryStore:
    """An open history database. Use as a context manager, or call :meth:`close`.

    Opening creates the file (and its folder) when missing and applies migrations; it
    raises :class:`HistoryError` for a damaged or newer file, or one that cannot be
    opened or written.
    """

    def __init__(self, path: Path | str, *, busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S):
        self.path = Path(path).expanduser()
        self._timeout_s = busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        try:
            self._conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout_s, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise HistoryError(_reason(self.path, exc)) from None
        except HistoryError:
            self._conn.close()
            raise

    # context manager ------------------------------------------------------------------

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    # schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        row = self._conn.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        version = self.schema_version()  # raises DatabaseError on a damaged file
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"history database {self.path} was written by a newer ometer-tui "
                f"(schema {version}; this version knows up to {SCHEMA_VERSION}); "
                "it was left as it is"
            )
        mode = self._conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            self._conn.execute("PRAGMA journal_mode = WAL")
        if version == SCHEMA_VERSION:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            # another process may have migrated while we waited for the lock
            version = self.schema_version()
            if version < SCHEMA_VERSION:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations "
                    "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                for target, statements in _MIGRATIONS:
                    if target <= version:
                        continue
                    for sql in statements:
                        self._conn.execute(sql)
                    self._conn.execute(
                        "INSERT INTO migrations(version, applied_at) VALUES (?, ?)",
                        (target, _now()),
                    )
                    self._conn.execute(f"PRAGMA user_version = {target}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def migrations(self) -> list[tuple[int, str]]:
        """(version, applied_at) of every migration applied to this file."""
        return [
            (int(v), str(t))
            for v, t in self._conn.execute(
                "SELECT version, applied_at FROM migrations ORDER BY version"
            )
        ]

    # writing --------------------------------------------------------------------------

    def add_document(self, doc: Mapping[str, Any], *, label: str | None = None) -> int:
        """Store an export document (as :func:`export.to_dict` builds it, or read from a
        JSON export) in one transaction; returns its id."""
        endpoint = doc.get("endpoint") or {}
        plan = doc.get("plan") or {}
        runs, ok, errors = measured_runs(doc)
        models = plan.get("models") or [m.get("name") for m in doc.get("models") or []]
        # several endpoints (schema 2): the listing names them all, the URL is the first's
        names = [str(e.get("name") or "") for e in doc.get("endpoints") or []]
        row = (
            _now(),
            doc.get("started_at"),
            doc.get("finished_at"),
            " + ".join(names) if len(names) > 1 else str(endpoint.get("name") or ""),
            str(endpoint.get("url") or ""),
            endpoint.get("api"),
            json.dumps([str(m) for m in models], ensure_ascii=False),
            plan_summary(doc),
            runs,
            ok,
            errors,
            1 if doc.get("simulated") else 0,
            1 if doc.get("cancelled") else 0,
            int(doc.get("schema_version") or 0),
            _encode(doc),
            label,
        )
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(
                    "INSERT INTO results(saved_at, started_at, finished_at, endpoint, url, api,"
                    " models, plan, runs, ok, errors, simulated, cancelled, doc_schema, doc,"
                    " label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def add_result(self, result: BenchmarkResult, *, label: str | None = None) -> int:
        """Store a benchmark result (its JSON export document); returns its id."""
        from ometer_tui.core.export import to_dict

        return self.add_document(to_dict(result), label=label)

    def delete(self, result_id: int) -> None:
        """Remove a result; :class:`UnknownResultError` when there is none."""
        cur = self._write("DELETE FROM results WHERE id = ?", (result_id,))
        if cur.rowcount == 0:
            raise UnknownResultError(f"no result #{result_id} in {self.path}")

    def set_label(self, result_id: int, label: str | None) -> None:
        cur = self._write("UPDATE results SET label = ? WHERE id = ?", (label or None, result_id))
        if cur.rowcount == 0:
            raise UnknownResultError(f"no result #{result_id} in {self.path}")

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                cur = self._conn.execute(sql, params)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        return cur

    # reading --------------------------------------------------------------------------

    _COLUMNS = (
        "id, saved_at, started_at, finished_at, endpoint, url, api, models, plan, runs, ok,"
        " errors, simulated, cancelled, label"
    )

    @staticmethod
    def _entry(row: tuple[Any, ...]) -> HistoryEntry:
        (id_, saved, started, finished, ep, url, api, models, plan) = row[:9]
        (runs, ok, errors, simulated, cancelled, label) = row[9:]
        try:
            names = tuple(str(m) for m in json.loads(models))
        except (ValueError, TypeError):
            names = ()
        return HistoryEntry(
            id=int(id_),
            saved_at=str(saved),
            started_at=started,
            finished_at=finished,
            endpoint=str(ep),
            url=str(url),
            api=api,
            models=names,
            plan=str(plan),
            runs=int(runs),
            ok=int(ok),
            errors=int(errors),
            simulated=bool(simulated),
            cancelled=bool(cancelled),
            label=label,
        )

    def entries(self, limit: int | None = None) -> list[HistoryEntry]:
        """Stored results, newest first (by start time, then id)."""
        sql = f"SELECT {self._COLUMNS} FROM results ORDER BY started_at DESC, id DESC"
        params: tuple[object, ...] = ()
        if limit is not None:
            sql += " LIMIT ?"
            params = (limit,)
        try:
            return [self._entry(row) for row in self._conn.execute(sql, params)]
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        try:
            return int(self._conn.execute("SELECT count(*) FROM results").fetchone()[0])
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None

    def entry(self, result_id: int) -> HistoryEntry:
        try:
            row = self._conn.execute(
                f"SELECT {self._COLUMNS} FROM results WHERE id = ?", (result_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        if row is None:
            raise UnknownResultError(f"no result #{result_id} in {self.path}")
        return self._entry(row)

    def document(self, result_id: int) -> dict[str, Any]:
        """The stored export document: equal to ``export.to_dict`` of the result saved."""
        try:
            row = self._conn.execute(
                "SELECT doc FROM results WHERE id = ?", (result_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        if row is None:
            raise UnknownResultError(f"no result #{result_id} in {self.path}")
        try:
            return _decode(bytes(row[0]))
        except (zlib.error, ValueError, UnicodeDecodeError) as exc:
            raise HistoryError(
                f"history database {self.path}: result #{result_id} is damaged ({exc})"
            ) from None

    def find_document(self, doc: Mapping[str, Any]) -> int | None:
        """The id of a stored result whose document equals ``doc`` (an import done
        twice), or None."""
        try:
            row = self._conn.execute(
                "SELECT id FROM results WHERE started_at IS ? AND url = ? AND doc = ?",
                (
                    doc.get("started_at"),
                    str((doc.get("endpoint") or {}).get("url") or ""),
                    _encode(doc),
                ),
            ).fetchone()
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        return None if row is None else int(row[0])

    def latest_comparable(
        self, doc: Mapping[str, Any], model: str
    ) -> tuple[HistoryEntry, dict[str, Any]] | None:
        """The newest stored result started before ``doc`` that measured ``model`` on the
        same endpoint (URL; for the simulated demo, whose port changes, its name) with
        the same workload (:func:`workload_of`) and load (:func:`load_of`), or None."""
        endpoint = doc.get("endpoint") or {}
        simulated = bool(doc.get("simulated"))
        wanted = workload_of(doc)
        wanted_load = load_of(doc, model)
        sql = (
            f"SELECT {self._COLUMNS} FROM results WHERE "
            + ("simulated = 1 AND endpoint = ?" if simulated else "url = ?")
            + " AND (started_at < ? OR ? IS NULL) ORDER BY started_at DESC, id DESC"
        )
        key = str(endpoint.get("name") if simulated else endpoint.get("url")) or ""
        started = doc.get("started_at")
        try:
            rows = self._conn.execute(sql, (key, started, started)).fetchall()
        except sqlite3.Error as exc:
            raise HistoryError(_reason(self.path, exc)) from None
        for row in rows:
            entry = self._entry(row)
            if model not in entry.models:
                continue
            other = self.document(entry.id)
            if workload_of(other) != wanted or load_of(other, model) != wanted_load:
                continue
            for m in other.get("models") or []:
                if m.get("name") == model and any(not r.get("warmup") for r in m.get("runs") or []):
                    return entry, other
        return None

    def latest_id(self) -> int | None:
        entries = self.entries(limit=1)
        return entries[0].id if entries else None


def save_result(
    result: BenchmarkResult,
    path: Path | str,
    *,
    busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
) -> SaveOutcome:
    """Save a result; never raises for a history problem (the reason is returned, and
    the result stays in memory for the caller to export)."""
    target = Path(path).expanduser()
    try:
        with HistoryStore(target, busy_timeout_s=busy_timeout_s) as store:
            return SaveOutcome(path=target, id=store.add_result(result))
    except HistoryError as exc:
        return SaveOutcome(path=target, reason=str(exc))
    except (sqlite3.Error, OSError, ValueError) as exc:  # anything else the disk says
        return SaveOutcome(path=target, reason=_reason(target, exc))
