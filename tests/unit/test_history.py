"""The history store: round trip equal to the JSON export, no secret, migrations, two
writers, SIGKILL mid-write, and every failure a reason rather than an exception."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest

from ometer_tui.core import history as history_mod
from ometer_tui.core.export import to_dict, to_json
from ometer_tui.core.history import (
    ENV_VAR,
    SCHEMA_VERSION,
    HistoryError,
    HistorySettings,
    HistoryStore,
    UnknownResultError,
    default_history_path,
    history_path,
    history_settings_of,
    history_table,
    read_history_table,
    save_result,
)
from tests.history_samples import CANARY, synthetic_result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "history.sqlite3"


def test_round_trip_equals_the_json_export(db: Path) -> None:
    result = synthetic_result(runs=10, models=("a:1b", "b:7b"), error_every=4)
    with HistoryStore(db) as store:
        rid = store.add_result(result)
        doc = store.document(rid)
    assert doc == to_dict(result)
    # the same text as the JSON export, byte for byte, once dumped the same way
    assert json.dumps(doc, indent=2, ensure_ascii=False) + "\n" == to_json(result)


def test_listing_columns(db: Path) -> None:
    old = synthetic_result(runs=4, error_every=2, cancelled=True)
    new = synthetic_result(runs=6, models=("x", "y"))
    new.started_at = new.started_at.replace(hour=6)
    with HistoryStore(db) as store:
        a = store.add_result(old)
        b = store.add_result(new)
        entries = store.entries()
        assert [e.id for e in entries] == [b, a]  # newest first
        e = store.entry(a)
    assert (e.runs, e.ok, e.errors) == (4, 2, 2)  # warm-up not counted
    assert e.cancelled and not e.simulated
    assert e.models == ("llama3:8b",)
    assert e.endpoint == "lab" and e.url == "http://127.0.0.1:11434" and e.api == "ollama"
    assert e.plan == "2 passes × 2 prompts, c1, max 64"
    assert entries[0].models == ("x", "y")
    assert e.label is None


def test_no_token_or_auth_header_is_stored(db: Path) -> None:
    result = synthetic_result(runs=4, with_canary=True, error_every=2)
    with HistoryStore(db) as store:
        rid = store.add_result(result)
        text = json.dumps(store.document(rid))
    assert "server echoed" in text  # the echo is there, redacted
    assert CANARY not in text
    assert CANARY[-12:] not in text
    for name in os.listdir(db.parent):  # the database, its WAL and shared memory
        raw = (db.parent / name).read_bytes()
        assert CANARY.encode() not in raw
    with sqlite3.connect(db) as conn:
        for (blob,) in conn.execute("SELECT doc FROM results"):
            assert CANARY.encode() not in zlib.decompress(blob)
        rows = conn.execute("SELECT * FROM results").fetchall()
    assert CANARY not in repr(rows)


def test_compact_storage_under_1_kb_per_run(db: Path) -> None:
    result = synthetic_result(runs=400)
    with HistoryStore(db) as store:
        store.add_result(result)
    with sqlite3.connect(db) as conn:
        (size,) = conn.execute("SELECT length(doc) FROM results").fetchone()
    per_run = size / 401
    assert per_run < 1024, per_run
    assert size < len(to_json(result)) / 4  # compressed, not the plain text


def test_delete_label_and_unknown_ids(db: Path) -> None:
    with HistoryStore(db) as store:
        rid = store.add_result(synthetic_result(runs=2))
        store.set_label(rid, "before upgrade")
        assert store.entry(rid).label == "before upgrade"
        store.delete(rid)
        assert len(store) == 0
        for call in (store.document, store.entry, store.delete):
            with pytest.raises(UnknownResultError, match=f"no result #{rid}"):
                call(rid)
        with pytest.raises(UnknownResultError):
            store.set_label(rid, "x")


def test_path_precedence(tmp_path: Path) -> None:
    env = {ENV_VAR: str(tmp_path / "env.db")}
    settings = HistorySettings(path=str(tmp_path / "settings.db"))
    assert history_path("cli.db", settings, env) == Path("cli.db")
    assert history_path(None, settings, env) == tmp_path / "env.db"
    assert history_path(None, settings, {}) == tmp_path / "settings.db"
    assert history_path(None, None, {}) == default_history_path()
    assert default_history_path().name == "history.sqlite3"
    assert "ometer-tui" in str(default_history_path())


# --------------------------------------------------------------------------- schema


def _make_v1_database(path: Path) -> None:
    """A database as version 1 of the store left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
    target, statements = history_mod._MIGRATIONS[0]
    assert target == 1
    for sql in statements:
        conn.execute(sql)
    conn.execute("INSERT INTO migrations VALUES (1, '2026-01-01T00:00:00.000Z')")
    conn.execute("PRAGMA user_version = 1")
    doc = to_dict(synthetic_result(runs=3))
    blob = zlib.compress(json.dumps(doc).encode())
    conn.execute(
        "INSERT INTO results(saved_at, started_at, finished_at, endpoint, url, api, models,"
        " plan, runs, ok, errors, simulated, cancelled, doc_schema, doc) VALUES"
        " ('2026-01-01', ?, NULL, 'lab', 'http://x', 'ollama', '[\"m\"]', 'p', 3, 3, 0, 0, 0,"
        " 1, ?)",
        (doc["started_at"], blob),
    )
    conn.close()


def test_migration_from_version_1_keeps_results(db: Path) -> None:
    db.parent.mkdir(parents=True)
    _make_v1_database(db)
    with HistoryStore(db) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        assert [v for v, _ in store.migrations()] == [1, 2]
        (entry,) = store.entries()
        assert entry.label is None and entry.models == ("m",)
        assert store.document(entry.id)["plan"]["passes"] == 1
        store.set_label(entry.id, "kept")  # the new column works
        assert store.add_result(synthetic_result(runs=2)) > entry.id


def test_new_database_records_its_migrations(db: Path) -> None:
    with HistoryStore(db) as store:
        assert [v for v, _ in store.migrations()] == [1, 2]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_schema_is_refused_and_left_alone(db: Path) -> None:
    with HistoryStore(db) as store:
        store.add_result(synthetic_result(runs=2))
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 7")
    before = db.read_bytes()
    with pytest.raises(HistoryError, match="newer ometer-tui"):
        HistoryStore(db)
    outcome = save_result(synthetic_result(runs=2), db)
    assert not outcome.saved and outcome.id is None
    assert outcome.reason is not None and "schema 7" in outcome.reason
    assert db.read_bytes() == before


# --------------------------------------------------------------------------- failures


def test_corrupt_database_gives_a_reason_and_is_not_overwritten(db: Path) -> None:
    db.parent.mkdir(parents=True)
    garbage = b"this is not a database, it is a shopping list\n" * 200
    db.write_bytes(garbage)
    result = synthetic_result(runs=3)
    outcome = save_result(result, db)
    assert not outcome.saved
    assert outcome.reason is not None and "damaged" in outcome.reason and str(db) in outcome.reason
    assert db.read_bytes() == garbage
    assert result.models["llama3:8b"].summary is not None  # still in memory, exportable
    assert "llama3:8b" in to_json(result)


def test_locked_too_long_gives_a_reason_then_saves_once_free(db: Path) -> None:
    with HistoryStore(db):
        pass
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        outcome = save_result(synthetic_result(runs=2), db, busy_timeout_s=0.2)
        assert not outcome.saved
        assert outcome.reason is not None and "busy" in outcome.reason
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert save_result(synthetic_result(runs=2), db).saved


def test_unwritable_location_gives_a_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    outcome = save_result(synthetic_result(runs=2), blocker / "history.sqlite3")
    assert not outcome.saved and outcome.reason and "history" in outcome.reason


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_folder_and_file(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "history.sqlite3"
    with HistoryStore(db) as store:
        store.add_result(synthetic_result(runs=2))
    os.chmod(db, 0o444)
    os.chmod(folder, 0o555)
    try:
        outcome = save_result(synthetic_result(runs=2), db)
        assert not outcome.saved and outcome.reason
    finally:
        os.chmod(folder, 0o755)
        os.chmod(db, 0o644)


def test_read_only_database_gives_a_reason(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database SQLite can only read (how a read-only disk looks to it): opened with
    ``mode=ro``, since root ignores file permissions in this test environment."""
    with HistoryStore(db) as store:
        store.add_result(synthetic_result(runs=2))
    real_connect = sqlite3.connect

    def read_only(database: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real_connect(f"file:{database}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    outcome = save_result(synthetic_result(runs=2), db)
    assert not outcome.saved
    assert outcome.reason is not None and "read-only" in outcome.reason
    monkeypatch.undo()
    with HistoryStore(db) as store:
        assert len(store) == 1


# --------------------------------------------------------------------------- concurrency


def test_two_writers_at_once(db: Path) -> None:
    with HistoryStore(db):
        pass
    errors: list[BaseException] = []
    ids: list[int] = []
    lock = threading.Lock()

    def writer(seed: int) -> None:
        try:
            with HistoryStore(db, busy_timeout_s=30) as store:
                for i in range(15):
                    rid = store.add_result(synthetic_result(runs=20, seed=seed * 100 + i))
                    with lock:
                        ids.append(rid)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with HistoryStore(db) as store:
        assert len(store) == 30 and len(set(ids)) == 30
        for rid in ids:
            assert store.document(rid)["models"][0]["summary"]["runs"] == 20


_CHILD = """
import sys, time
from ometer_tui.core.history import HistoryStore
from tests.history_samples import synthetic_result

stage = sys.argv[2]
store = HistoryStore(sys.argv[1])
store.add_result(synthetic_result(runs=5))
inside = False

def trace(sql):
    global inside
    if sql.startswith("INSERT INTO results"):
        inside = True
    if stage == "commit" and inside and sql == "COMMIT":
        print("inside", flush=True)  # the row is written, not yet committed
        time.sleep(60)

def progress():
    if stage == "insert" and inside:
        print("inside", flush=True)  # in the middle of the INSERT
        time.sleep(60)
    return 0

store._conn.set_trace_callback(trace)
store._conn.set_progress_handler(progress, 20)
store.add_result(synthetic_result(runs=300, seed=9))
print("not killed", flush=True)
"""


@pytest.mark.parametrize("stage", ["insert", "commit"])
def test_sigkill_mid_write_leaves_the_result_absent_and_the_file_readable(
    db: Path, stage: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), stage],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line == "inside\n", line + (child.stderr.read() if child.stderr else "")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with HistoryStore(db) as store:
        (entry,) = store.entries()  # the first result whole, the second absent
        assert store.document(entry.id) == to_dict(synthetic_result(runs=5))
        assert store.add_result(synthetic_result(runs=2)) > entry.id  # still writable


def test_history_settings_table() -> None:
    problems: list[str] = []
    warnings: list[str] = []
    hs = read_history_table({"enabled": False, "path": "~/h.db", "colour": 1}, problems, warnings)
    assert hs == HistorySettings(enabled=False, path="~/h.db")
    assert problems == [] and warnings == ["history.colour: unknown key, ignored"]
    assert history_table(hs) == {"enabled": False, "path": "~/h.db"}
    assert history_table(HistorySettings()) == {}
    read_history_table({"enabled": "no", "path": 3}, problems, warnings)
    assert [p.split(":")[0] for p in problems] == ["history.enabled", "history.path"]

    class WithHistory:
        history = HistorySettings(enabled=False)

    assert history_settings_of(WithHistory()) == HistorySettings(enabled=False)
    assert history_settings_of(object()) == HistorySettings()


def test_latest_comparable_result(db: Path) -> None:
    from datetime import timedelta

    def at(minutes: int, **kwargs: Any) -> dict[str, Any]:
        result = synthetic_result(runs=6, **kwargs)
        result.started_at += timedelta(minutes=minutes)
        return to_dict(result)

    current = at(60)
    with HistoryStore(db) as store:
        assert store.latest_comparable(current, "llama3:8b") is None
        old = store.add_document(at(0))
        newer = store.add_document(at(10))
        store.add_document(at(20, url="http://other:11434"))  # another endpoint
        store.add_document(at(30, models=("qwen:7b",)))  # another model
        other_workload = at(40)
        other_workload["plan"]["params"]["max_tokens"] = 512
        store.add_document(other_workload)
        other_prompts = at(45)
        other_prompts["plan"]["prompts"] = ["something else"]
        store.add_document(other_prompts)
        store.add_document(at(90))  # after the current one
        found = store.latest_comparable(current, "llama3:8b")
        assert found is not None and found[0].id == newer and found[1] == at(10)
        store.delete(newer)
        found = store.latest_comparable(current, "llama3:8b")
        assert found is not None and found[0].id == old
        assert store.latest_comparable(current, "qwen:7b") is not None  # same endpoint, plan
        assert store.latest_comparable(current, "mistral") is None


_WRITER = """
import sys
from ometer_tui.core.history import HistoryStore
from tests.history_samples import synthetic_result

with HistoryStore(sys.argv[1], busy_timeout_s=60) as store:
    print("ready", flush=True)
    sys.stdin.readline()  # both start writing together
    for i in range(12):
        store.add_result(synthetic_result(runs=40, seed=int(sys.argv[2]) * 100 + i))
"""


def test_two_writer_processes_at_once(db: Path) -> None:
    with HistoryStore(db):
        pass
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), str(n)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
    with HistoryStore(db) as store:
        entries = store.entries()
        assert len(entries) == 24
        for entry in entries:
            assert store.document(entry.id)["models"][0]["summary"]["runs"] == 40
