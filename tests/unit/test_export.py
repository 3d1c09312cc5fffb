"""Exports: JSON schema v1, long CSV, Markdown; atomic files; never a secret."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import stat
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ometer_tui.core.api.base import ImageInput
from ometer_tui.core.bench.events import ModelPhase
from ometer_tui.core.bench.metrics import stats_of
from ometer_tui.core.bench.plan import BenchmarkPlan, Prices
from ometer_tui.core.bench.records import ModelSummary, RunRecord, ServerTimings, Stats
from ometer_tui.core.bench.result import BenchmarkResult, ModelResult
from ometer_tui.core.export import (
    CSV_COLUMNS,
    SCHEMA_VERSION,
    ExportFormat,
    default_export_path,
    render,
    to_csv,
    to_json,
    to_markdown,
    to_table,
    write_export,
)
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    GenerationParams,
    ModelInfo,
    ServerInfo,
)
from ometer_tui.core.secrets import Secret, TokenRef

CANARY = "sk-CANARY-1234567890abcdef"
ENV_CANARY = "sk-ENVCANARY-abcdef1234567890"

REQUIRED_RUN_KEYS = {
    "pass",
    "prompt_index",
    "warmup",
    "ok",
    "status",
    "error",
    "ttft_s",
    "ttft_visible_s",
    "e2e_s",
    "output_tokens",
    "tokens_source",
    "decode_tps",
    "server_decode_tps",
    "prompt_tokens",
    "load_s",
    "queue_s",
    "attempts",
    "tpot_s",
    "cold",
}


def _stats(values: list[float]) -> Stats:
    ordered = sorted(values)
    mean = sum(values) / len(values)
    return Stats(
        n=len(values),
        mean=mean,
        p50=ordered[len(ordered) // 2],
        p90=ordered[-1],
        p99=ordered[-1],
        min=ordered[0],
        max=ordered[-1],
        stdev=0.01,
        values=tuple(values) if len(values) < 5 else (),
    )


def _run(
    model: str, pass_index: int, *, warmup: bool = False, ok: bool = True, e2e: float = 1.234567891
) -> RunRecord:
    if not ok:
        return RunRecord(
            model=model,
            pass_index=pass_index,
            prompt_index=0,
            warmup=warmup,
            ok=False,
            status=401,
            error=f"Incorrect API key provided: {CANARY}",
            error_kind="auth",
            attempts=1,
            started_at_s=3.0,
            finished_at_s=3.1,
        )
    return RunRecord(
        model=model,
        pass_index=pass_index,
        prompt_index=0,
        warmup=warmup,
        ok=True,
        status=200,
        ttft_s=0.0123456789,
        ttft_visible_s=0.2,
        e2e_s=e2e,
        output_tokens=64,
        tokens_source="usage",
        decode_tps=51.123456789,
        tpot_s=0.0195,
        itl_mean_s=0.0195,
        itl_p50_s=0.019,
        itl_p99_s=0.05,
        server_decode_tps=55.5,
        prefill_tps=900.0,
        prompt_tokens=12,
        load_s=2.5 if warmup else 0.0,
        cold=warmup,
        queue_s=0.0,
        attempts=1,
        server_timings=ServerTimings.from_mapping({"eval_duration": 1.15, "load_duration": 0.0}),
        started_at_s=float(pass_index),
        finished_at_s=float(pass_index) + e2e,
        cost_usd=0.0001,
    )


def _result(*, simulated: bool = False, name: str = "gpu|box") -> BenchmarkResult:
    endpoint = Endpoint(
        name=name,
        url=f"https://user:{CANARY}@gpu.example:8443/base?key={CANARY}",
        api=None,
        token=TokenRef(value=Secret(CANARY)),
        api_key=TokenRef(env="OMETER_EXPORT_TEST_KEY"),
        headers={"Authorization": f"Bearer {CANARY}", "X-Team": "bench"},
        simulated=simulated,
    )
    models = (
        ModelInfo(
            name="llama3.2:3b",
            size_bytes=2_019_393_189,
            parameter_size="3.2B",
            quantization="Q4_K_M",
            context_length=131072,
            family="llama",
            capabilities=("completion", "tools"),
            modified_at="2024-10-01T00:00:00Z",
        ),
        ModelInfo(name="qwen|3:8b", parameter_size="8B", quantization="Q8_0"),
    )
    plan = BenchmarkPlan(
        endpoint=endpoint,
        models=models,
        prompts=("Hello", "World"),
        passes=2,
        warmup=1,
        params=GenerationParams(max_tokens=64, temperature=0.0, seed=1),
        images=(ImageInput(data=b"\x89PNG" + b"\0" * 96),),
        prices=Prices(0.1, 0.4),
    )
    m1_runs = [_run(models[0].name, 0, warmup=True)] + [
        _run(models[0].name, p, e2e=1.0 + p / 10) for p in (1, 1, 2, 2, 2)
    ]
    m1 = ModelResult(
        info=models[0],
        records=m1_runs,
        phase=ModelPhase.DONE,
        backend={"server": "ollama/0.5", "x-echo": f"token={CANARY}"},
        summary=ModelSummary(
            model=models[0].name,
            runs=5,
            ok=5,
            errors=0,
            output_tokens=320,
            prompt_tokens=60,
            window_s=5.5,
            request_throughput=0.909090909,
            output_tps_aggregate=58.18181818,
            cost_usd=0.000134,
            cold_runs=0,
            warmup_runs=1,
            metrics={
                "ttft_s": _stats([0.0123] * 5),
                "ttft_visible_s": _stats([0.2] * 5),
                "e2e_s": _stats([1.1, 1.1, 1.2, 1.2, 1.2]),
                "decode_tps": _stats([51.1] * 5),
                "server_decode_tps": _stats([55.5] * 5),
            },
        ),
    )
    m2_runs = [
        _run(models[1].name, 0, warmup=True),
        _run(models[1].name, 1),
        _run(models[1].name, 2, ok=False),
    ]
    m2 = ModelResult(
        info=models[1],
        records=m2_runs,
        phase=ModelPhase.DONE,
        summary=ModelSummary(
            model=models[1].name,
            runs=2,
            ok=1,
            errors=1,
            errors_by_kind={"auth": 1},
            output_tokens=64,
            metrics={"e2e_s": _stats([1.2345]), "ttft_s": _stats([0.01])},
            window_s=float("nan"),
            tokens_estimated=True,
            warmup_runs=1,
        ),
    )
    return BenchmarkResult(
        plan=plan,
        started_at=datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC),
        finished_at=datetime(2025, 3, 4, 5, 7, 0, tzinfo=UTC),
        server=ServerInfo(flavour=ApiFlavour.OLLAMA, version="0.5.7", backend="ollama"),
        warmup_requests=2,
        models={m.info.name: m for m in (m1, m2)},
    )


@pytest.fixture(autouse=True)
def _env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMETER_EXPORT_TEST_KEY", ENV_CANARY)


def _no_secrets(text: str) -> None:
    assert CANARY not in text
    assert ENV_CANARY not in text
    assert "user:" not in text
    assert "Authorization" not in text
    assert "Bearer" not in text


# ------------------------------------------------------------------ JSON


def test_json_schema_v2() -> None:
    text = to_json(_result())
    _no_secrets(text)
    doc = json.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert doc["tool"]["name"] == "ometer-tui"
    assert doc["started_at"] == "2025-03-04T05:06:07.890Z"
    assert doc["finished_at"] == "2025-03-04T05:07:00.000Z"
    assert doc["cancelled"] is False and doc["simulated"] is False
    assert doc["endpoint"] == {
        "name": "gpu|box",
        "url": "https://gpu.example:8443/base",
        "api": "ollama",
        "server_version": "0.5.7",
        "backend": "ollama",
    }
    plan = doc["plan"]
    assert plan["models"] == ["llama3.2:3b", "qwen|3:8b"]
    assert plan["params"] == {
        "max_tokens": 64,
        "temperature": 0.0,
        "seed": 1,
        "stop": [],
        "response_format": "text",
    }
    assert plan["images"] == {"count": 1, "bytes": 100}
    assert plan["prices"] == {"input_per_million": 0.1, "output_per_million": 0.4}
    assert doc["warmup_requests"] == 2
    assert [m["name"] for m in doc["models"]] == ["llama3.2:3b", "qwen|3:8b"]

    m1, m2 = doc["models"]
    assert m1["metadata"]["quantization"] == "Q4_K_M"
    assert m1["metadata"]["capabilities"] == ["completion", "tools"]
    assert m1["phase"] == "done"
    assert m1["backend"]["server"] == "ollama/0.5"
    assert len(m1["runs"]) == 6
    for run in m1["runs"] + m2["runs"]:
        assert run.keys() >= REQUIRED_RUN_KEYS
        assert "pass_index" not in run
    first = m1["runs"][1]
    assert first["ttft_s"] == 0.0123457  # 6 significant digits for sub-0.1 s
    assert first["e2e_s"] == 1.1  # microseconds
    assert first["decode_tps"] == 51.1235
    assert m1["runs"][0]["warmup"] is True and m1["runs"][0]["pass"] == 0
    assert first["server_timings"] == {"eval_duration": 1.15, "load_duration": 0.0}

    summary = m1["summary"]
    assert summary["runs"] == 5 and summary["errors"] == 0
    assert set(summary["metrics"]["e2e_s"]) == {
        "n",
        "mean",
        "p50",
        "p90",
        "p99",
        "min",
        "max",
        "stdev",
    }
    assert m2["summary"]["metrics"]["e2e_s"]["values"] == [1.2345]
    assert m2["summary"]["window_s"] is None  # NaN is never emitted
    assert m2["summary"]["errors_by_kind"] == {"auth": 1}
    err = m2["runs"][2]
    assert err["ok"] is False and err["status"] == 401 and "••••" in err["error"]


def test_json_run_keys_cover_every_record_field() -> None:
    run = json.loads(to_json(_result()))["models"][0]["runs"][0]
    expected = {"pass" if f.name == "pass_index" else f.name for f in fields(RunRecord)}
    # derived, not stored; the inter-token gaps are optional (none kept here)
    assert set(run) == expected - {"itl_gaps_us"} | {"clock_diff"}
    keys = list(run)
    assert keys[keys.index("server_timings") + 1] == "clock_diff"


def test_json_server_timings_and_derived_clock_diff() -> None:
    result = _result()
    rec = result.models["llama3.2:3b"].records[1]
    rec.ttft_s, rec.e2e_s, rec.output_tokens = 0.5, 1.5, 11
    rec.server_timings = ServerTimings.from_mapping(
        {"eval_count": 11.0, "prompt_eval_count": 12.0, "load_s": 0.25,
         "prompt_eval_s": 0.125, "eval_s": 1.1, "total_s": 1.5}
    )  # fmt: skip
    run = json.loads(to_json(result))["models"][0]["runs"][1]
    assert run["server_timings"] == {
        "eval_count": 11.0, "eval_s": 1.1, "load_s": 0.25, "prompt_eval_count": 12.0,
        "prompt_eval_s": 0.125, "total_s": 1.5,
    }  # fmt: skip
    assert list(run["server_timings"]) == sorted(run["server_timings"])
    assert run["clock_diff"] == {
        "decode_minus_server_eval_s": 0.0,
        "ttft_minus_server_prefill_s": 0.125,
    }
    assert json.loads(to_json(_result()))["models"][0]["runs"][1]["clock_diff"] is None


def test_json_never_emits_nan() -> None:
    result = _result()
    result.models["llama3.2:3b"].records[1].decode_tps = math.inf
    text = to_json(result)
    assert "NaN" not in text and "Infinity" not in text


# ------------------------------------------------------------------ CSV


def test_csv_long_format() -> None:
    result = _result()
    text = to_csv(result)
    _no_secrets(text)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == sum(len(m.records) for m in result.models.values()) == 9
    header = next(csv.reader(io.StringIO(text)))
    assert tuple(header) == CSV_COLUMNS
    assert header[:6] == ["started_at", "endpoint", "url", "api", "simulated", "model"]
    assert {
        "parameter_size",
        "quantization",
        "context_length",
        "pass",
        "warmup",
        "ttft_s",
        "e2e_s",
    } <= set(header)
    assert sum(r["warmup"] == "true" for r in rows) == 2
    assert rows[0]["model"] == "llama3.2:3b" and rows[0]["quantization"] == "Q4_K_M"
    assert rows[0]["context_length"] == "131072"
    assert rows[-1]["ok"] == "false" and rows[-1]["status"] == "401"
    assert rows[-1]["ttft_s"] == ""
    assert rows[0]["endpoint"] == "gpu|box"
    assert json.loads(rows[1]["server_timings"]) == {"eval_duration": 1.15, "load_duration": 0.0}


def test_csv_header_stable_and_formula_cells_neutralised() -> None:
    result = _result(name="=HYPERLINK(1)")
    text = to_csv(result)
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["endpoint"] == "'=HYPERLINK(1)"
    assert to_csv(_result()).splitlines()[0] == text.splitlines()[0]


# ------------------------------------------------------------------ Markdown


def test_markdown_table_shape() -> None:
    text = to_markdown(_result(simulated=True))
    _no_secrets(text)
    lines = text.splitlines()
    assert lines[0].startswith("# ometer-tui benchmark: gpu\\|box (https://gpu.example:8443/base)")
    assert "2025-03-04 05:06:07 UTC" in lines[0]
    assert any("Simulated" in line for line in lines)
    table = [line for line in lines if line.startswith("|")]
    assert len(table) == 2 + 2  # header, rule, one row per model
    widths = {len([c for c in _split_row(line)]) for line in table}
    assert widths == {12}
    assert "qwen\\|3:8b" in table[3]
    row1 = _split_row(table[2])
    assert row1[0] == "llama3.2:3b" and row1[1] == "5/0"
    assert row1[2] == "12.3 ms"  # TTFT p50
    assert row1[6:10] == ["1200 ms", "1100–1200 ms", "1200 ms", "1200 ms"]  # n >= 5
    row2 = _split_row(table[3])
    # n = 1 (the one ok run): the median and the range are that value; no p90 / p99
    assert row2[6:10] == ["1234 ms", "1234 ms", "n<5", "n<5"]
    assert row2[2] == "10.0 ms" and row2[3] == "–"
    assert row2[10] == "~64"
    assert "auth: 1" in text


def _md_row(result: BenchmarkResult) -> list[str]:
    return _split_row(next(x for x in to_markdown(result).splitlines() if x.startswith("| llama")))


def _summary_of(**metrics: list[float]) -> BenchmarkResult:
    result = _result()
    mr = result.models["llama3.2:3b"]
    assert mr.summary is not None
    mr.summary.ok, mr.summary.runs = 3, 3
    mr.summary.metrics = {name: stats for name, v in metrics.items() if (stats := stats_of(v))}
    return result


def test_markdown_writes_milliseconds_with_their_precision() -> None:
    # defect 11: an E2E of 25.8 ms was printed as `0.02` (seconds, two decimals)
    result = _summary_of(e2e_s=[0.0258, 0.0262, 0.0251], ttft_s=[0.0051, 0.0049, 0.0050])
    row = _md_row(result)
    assert row[6] == "25.8 ms" and row[7] == "25.1–26.2 ms"
    assert row[2] == "5.0 ms"  # the median TTFT, shown at n = 3 (the TUI shows it too)
    assert row[8:10] == ["n<5", "n<5"]


def test_a_figure_on_fewer_runs_than_the_ok_ones_names_its_n() -> None:
    result = _summary_of(e2e_s=[1.0, 2.0, 3.0], ttft_visible_s=[0.5, 0.7])
    row = _md_row(result)
    assert row[1] == "3/0"
    assert row[3] == "600 ms (n=2)"  # visible TTFT on 2 of the 3 ok runs
    assert row[6] == "2000 ms" and row[7] == "1000–3000 ms"  # on all 3: no n


def test_terminal_table_has_the_markdown_figures_in_aligned_columns() -> None:
    result = _result(simulated=True)
    text = to_table(result)
    _no_secrets(text)
    lines = text.splitlines()
    assert lines[0].startswith("ometer-tui benchmark: gpu|box (https://gpu.example:8443/base)")
    assert lines[1].startswith("SIMULATED")
    header = next(i for i, line in enumerate(lines) if line.startswith("Model "))
    rule, row1, row2 = lines[header + 1 : header + 4]
    assert row1.startswith("llama3.2:3b ") and row2.startswith("qwen|3:8b ")
    md_row = _md_row(result)
    for cell in md_row[1:]:
        assert cell in row1
    # right-aligned figures: every rule segment ends where the row's figure ends
    ends = [
        i for i, c in enumerate(rule) if c == "-" and (i + 1 == len(rule) or rule[i + 1] == " ")
    ]
    assert all(row1[e] != " " for e in ends[1:])
    assert not any(line.startswith("|") for line in lines)


def _split_row(line: str) -> list[str]:
    cells, cur, i = [], "", 1
    body = line.strip()[1:-1]
    while i <= len(body):
        ch = body[i - 1]
        if ch == "\\" and i < len(body) and body[i] == "|":
            cur += "\\|"
            i += 2
            continue
        if ch == "|":
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    cells.append(cur.strip())
    return cells


# ------------------------------------------------------------------ files


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_write_export(tmp_path: Path, fmt: ExportFormat) -> None:
    from ometer_tui.core.report import write_export as write_any_format  # HTML too

    result = _result()
    path = default_export_path(result, fmt, tmp_path)
    assert path.name == f"ometer-gpu-box-20250304-050607{fmt.suffix}"
    written = write_any_format(result, fmt, path)
    assert written == path
    data = path.read_text(encoding="utf-8")
    _no_secrets(data)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_export_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "out.json"
    with pytest.raises(OSError) as info:
        write_export(_result(), ExportFormat.JSON, target)
    assert str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_default_export_path_slug_and_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = default_export_path(_result(name="../../etc/pass wd"), ExportFormat.CSV)
    assert path.parent == tmp_path
    assert path.name == "ometer-etc-pass-wd-20250304-050607.csv"
    assert default_export_path(_result(name="///"), "md").name.startswith("ometer-endpoint-")


def test_export_format_suffix() -> None:
    assert ExportFormat("json").suffix == ".json"
    assert ExportFormat.MD.suffix == ".md"
    assert [f.value for f in ExportFormat] == ["json", "csv", "md", "table", "html"]
    assert ExportFormat.TABLE.suffix == ".txt"
    assert ExportFormat.from_path("r.txt") is ExportFormat.TABLE
    assert ExportFormat.from_path(Path("a/b.CSV")) is ExportFormat.CSV
    assert ExportFormat.from_path("r.markdown") is ExportFormat.MD
    assert ExportFormat.from_path("r.md") is ExportFormat.MD
    assert ExportFormat.from_path("r") is ExportFormat.JSON


def test_render_matches_formats() -> None:
    result = _result()
    assert render(result, "json") == to_json(result)
    assert render(result, ExportFormat.CSV) == to_csv(result)
    assert render(result, ExportFormat.MD) == to_markdown(result)
    assert render(result, "table") == to_table(result)


def test_a_loads_plan_line_says_its_shape_not_passes() -> None:
    """A load sends what its rate, duration or count say: "3 passes × 1 prompt(s)" and,
    for an open loop, "concurrency 1" meant nothing (the headless header likewise)."""
    from dataclasses import replace

    from ometer_tui.core.bench.workloads.arrivals import ArrivalSpec
    from ometer_tui.core.bench.workloads.spec import LoadSpec
    from ometer_tui.core.bench.workloads.stop import StopConditions
    from ometer_tui.endpoint_args import plan_header

    result = _result()
    load = LoadSpec(arrival=ArrivalSpec(4.0), stop=StopConditions(duration_s=8.0))
    result.plan = replace(result.plan, load=load)
    [line] = [x for x in to_table(result).splitlines() if x.startswith("Plan: ")]
    assert line.startswith("Plan: open 4/s, 8 s, warm-up ") and "concurrency" not in line
    assert plan_header(result.plan).endswith(": 2 model(s), open 4/s, 8 s, warm-up 1")
    closed = replace(load, arrival=None, stop=StopConditions(max_requests=50))
    result.plan = replace(result.plan, load=closed, concurrency=4)
    [line] = [x for x in to_markdown(result).splitlines() if x.startswith("Plan: ")]
    assert line.startswith("Plan: closed, 50 req, warm-up ") and "concurrency 4" in line


def test_a_saved_loads_plan_line_comes_from_its_load_figures() -> None:
    """A document's plan keeps no load spec: read back (the HTML report, a result from
    the history), the plan line takes the load from the models' figures instead of
    "3 passes × 1 prompt(s), concurrency 1"."""
    from dataclasses import replace

    from ometer_tui.core.bench.workloads.summary import LoadSummary
    from ometer_tui.core.export_read import result_from_dict

    result = _result()
    figures = LoadSummary("open", 8.0, 6.6, 20, 3, "20 requests sent (--requests)")
    for mr in result.models.values():
        if mr.summary is not None:
            mr.summary = replace(mr.summary, load=figures)
    back = result_from_dict(json.loads(to_json(result)))
    assert back.plan.load is None
    [line] = [x for x in to_table(back).splitlines() if x.startswith("Plan: ")]
    assert line.startswith("Plan: open loop at 8 req/s offered, warm-up ")
    assert "concurrency" not in line and "passes" not in line
    # the results screen's title of that result (opened from the history) says it too
    from ometer_tui.core.export import load_shape
    from ometer_tui.tui.widgets.results_header import title_phrases

    assert load_shape(back) == ("open loop at 8 req/s offered", True)
    shown = [str(p.text) for p in title_phrases(back.plan, load_shape(back))]
    assert "2 models · open loop at 8 req/s offered" in shown
    assert not any(t.startswith("concurrency") for t in shown)
