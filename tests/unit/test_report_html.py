"""The HTML report: well-formed, self-contained (nothing fetched), escaped, the Markdown
report's figures, and every kind of document (several models, cancelled, telemetry, no
ok run, an older export, sweep steps); never a credential."""

from __future__ import annotations

import copy
import html as html_mod
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest

from ometer_tui.core.bench.metrics import stats_of
from ometer_tui.core.bench.workloads.summary import LoadSummary, TurnFigures
from ometer_tui.core.export import (
    SUMMARY_HEADER,
    ExportFormat,
    default_export_path,
    render,
    to_dict,
    to_markdown,
)
from ometer_tui.core.export_read import ForeignDocumentError, result_from_dict
from ometer_tui.core.report import html_report, to_html
from ometer_tui.core.report import render as report_render
from ometer_tui.core.report.charts import MAX_DOTS
from ometer_tui.core.report.svg import Chart, Series, nice_ticks, render_chart
from tests.history_samples import CANARY, synthetic_result

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source"}
#: SVG elements written self-closed (``<line .../>``)
FETCHING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "audio", "video",
                 "source", "track", "image", "use", "frame", "base", "form"}  # fmt: skip
URL_ATTRS = {"src", "href", "xlink:href", "srcset", "action", "poster", "data", "background",
             "formaction", "ping", "cite", "longdesc", "manifest"}  # fmt: skip


class Page(HTMLParser):
    """Parses the page strictly: every element closed in order, attributes and text kept."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.in_style = False
        self.style = ""
        self.decl = ""

    def handle_decl(self, decl: str) -> None:
        self.decl = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        self.in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.in_style:
            self.style += data
        else:
            self.text.append(data)

    def cells(self) -> list[str]:
        return self.text


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.decl.lower() == "doctype html"
    assert not page.errors, page.errors[:5]
    assert page.stack == [], f"unclosed: {page.stack}"
    return page


def assert_self_contained(html: str) -> None:
    page = parse(html)
    for tag, attrs in page.tags:
        assert tag not in FETCHING_TAGS, f"<{tag}> in the report"
        for name, value in attrs.items():
            assert name not in URL_ATTRS, f"<{tag} {name}={value!r}>"
            assert not name.startswith("on"), f"an event handler <{tag} {name}>"
            if value and name == "style":
                assert "url(" not in value
    assert "url(" not in page.style and "@import" not in page.style
    assert "@font-face" not in page.style


def table_rows(html: str, caption: str) -> list[list[str]]:
    """The body rows of the table with this caption, as cell texts."""
    match = re.search(
        r"<caption>" + re.escape(html_mod.escape(caption)) + r"</caption>.*?<tbody>(.*?)</tbody>",
        html,
        re.S,
    )
    assert match, f"no table {caption!r}"
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", match.group(1), re.S):
        cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        rows.append([_unescape(c) for c in cells])
    return rows


def _unescape(text: str) -> str:
    return html_mod.unescape(text)


def md_rows(md: str) -> list[list[str]]:
    lines = [line for line in md.splitlines() if line.startswith("| ")][1:]  # no header
    return [
        [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        for line in lines
    ]


# --------------------------------------------------------------------------- the page


def test_several_models_page_is_well_formed_self_contained_with_the_markdown_figures() -> None:
    result = synthetic_result(models=("alpha:1b", "beta:8b", "gamma:70b"), runs=12, error_every=5)
    html = html_report(result)
    assert_self_contained(html)
    # the summary table: the Markdown report's columns and cells, row for row
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", html, re.S)
    assert header is not None
    assert [_unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", header.group(1))] == list(
        SUMMARY_HEADER
    )
    rows = table_rows(html, "One row per model (measured runs only)")
    assert rows == md_rows(to_markdown(result))
    assert [r[0] for r in rows] == ["alpha:1b", "beta:8b", "gamma:70b"]
    # one distribution block per model, two histograms each, and the run's time series
    for name in ("alpha:1b", "beta:8b", "gamma:70b"):
        assert f"<h3>{name}</h3>" in html
        assert f"<title>TTFT, {name}</title>" in html
        assert f"<title>Inter-token gap, {name}</title>" in html
    for title in ("Output tokens/s", "Requests in flight", "TTFT over time", "Errors"):
        assert f"<title>{title}</title>" in html
    # every chart has a text alternative, which gives its figures
    assert html.count('role="img"') == html.count("<desc>") >= 10
    for name in ("alpha:1b", "beta:8b", "gamma:70b"):
        mr = result.models[name]
        ok = [r for r in mr.records if r.ok and not r.warmup]
        hist = html.split(f"<title>TTFT, {name}</title>")[1].split("</svg>")[0]
        assert f"<desc>Histogram of TTFT: {len(ok)} runs in " in hist
        heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', hist)]
        assert len(heights) == len([h for h in heights if h >= 0]) and max(heights) > 0
    failed = sum(1 for m in result.models.values() for r in m.records if not r.ok)
    errors = html.split("<title>Errors</title>")[1].split("</svg>")[0]
    assert f"{failed} in all" in errors
    assert "Simulated" not in html and "Cancelled:" not in html
    assert 'id="telemetry"' not in html and 'id="steps"' not in html


def test_stream_notes_survive_the_document() -> None:
    # buffered / not-streamed runs: the Markdown of the live result labels the cells and
    # adds a note; the report, built from the export, must say the same
    result = synthetic_result(models=("buffered-model", "whole-body-model"), runs=6)
    for name, drop, key in (
        ("buffered-model", "decode_tps", "buffered_runs"),
        ("whole-body-model", "ttft_s", "not_streamed_runs"),
    ):
        mr = result.models[name]
        assert mr.summary is not None
        metrics = {k: v for k, v in mr.summary.metrics.items() if k != drop}
        mr.summary = replace(mr.summary, metrics=metrics, **{key: mr.summary.ok})
    html = html_report(result)
    rows = table_rows(html, "One row per model (measured runs only)")
    assert rows == md_rows(to_markdown(result))
    assert rows[0][4] == "buffered" and rows[1][2] == "not streamed"
    assert "buffered-model: buffered in 6 of 6 ok runs" in html
    assert "whole-body-model: not streamed in 6 of 6 ok runs" in html


def test_a_load_s_figures_survive_the_document() -> None:
    result = synthetic_result(models=("m",), runs=6)
    mr = result.models["m"]
    assert mr.summary is not None
    lag = stats_of([0.0004, 0.0006, 0.0009, 0.0011, 0.003, 0.0007])
    assert lag is not None
    load = LoadSummary(
        mode="open", offered_rate=5.0, achieved_rate=4.93, requests_sent=6, max_in_flight=3,
        stop_reason="duration", schedule_lag_s=lag, input_tokens_asked_mean=512.0,
        input_tokens_actual_mean=509.5, turns=[TurnFigures(1, 6, 0.12, 510.0)],
    )  # fmt: skip
    mr.summary = replace(mr.summary, load=load)
    doc = to_dict(result)
    assert result_from_dict(doc).models["m"].summary.load == load  # type: ignore[union-attr]
    html = to_html(doc)
    assert f"<li>m: {html_mod.escape(load.describe())}</li>" in html
    assert "- m: " + load.describe() in to_markdown(result)


def test_header_names_endpoint_date_plan_and_marks() -> None:
    result = synthetic_result(cancelled=True)
    doc = to_dict(result)
    doc["simulated"] = True
    html = to_html(doc)
    assert "lab (http://127.0.0.1:11434)" in html
    assert "2026-11-30 05:00:00 UTC" in html
    assert "6 passes × 2 prompt(s)" in html
    assert "<strong>Cancelled:</strong>" in html and "<strong>Simulated:</strong>" in html
    assert "<title>ometer-tui report: lab, 2026-11-30 05:00:00 UTC</title>" in html


def test_names_are_escaped_everywhere() -> None:
    evil = "<script>alert(\"x\")</script> & 'q'"
    result = synthetic_result(models=(evil, "plain"), endpoint_name='ep <b>"1"</b>')
    html = html_report(result)
    assert_self_contained(html)
    assert "<script" not in html and "<b>" not in html
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;"
    assert f"<h3>{escaped}</h3>" in html
    assert f'<th scope="row">{escaped}</th>' in html
    assert "ep &lt;b&gt;&quot;1&quot;&lt;/b&gt;" in html
    # control characters from a server do not break the page
    doc = to_dict(synthetic_result(models=("bad\x00name\x1b[31m",)))
    assert_self_contained(to_html(doc))


def test_a_token_never_appears_and_url_credentials_are_stripped() -> None:
    result = synthetic_result(with_canary=True, error_every=3)
    # the canary is the endpoint's token and header, and a server echoed it in errors
    assert result.plan.endpoint.token is not None
    assert any(CANARY in (r.error or "") for m in result.models.values() for r in m.records)
    html = html_report(result)
    assert CANARY not in html
    # an imported document with credentials in its URLs: stripped here too
    doc = to_dict(synthetic_result())
    doc["endpoint"]["url"] = f"https://user:{CANARY}@gpu.example:8443/v1?key={CANARY}"
    doc["telemetry"] = _telemetry()
    doc["telemetry"]["sources"][0]["url"] = f"http://u:{CANARY}@gpu.example/metrics?t={CANARY}"
    html = to_html(doc)
    assert CANARY not in html
    assert "https://gpu.example:8443/v1" in html and "http://gpu.example/metrics" in html


def test_cancelled_result_shows_its_mark_and_its_finished_runs() -> None:
    result = synthetic_result(cancelled=True, runs=3)
    html = html_report(result)
    assert_self_contained(html)
    assert "<strong>Cancelled:</strong> the benchmark was stopped" in html
    assert table_rows(html, "One row per model (measured runs only)")[0][1] == "3/0"


def test_a_result_without_any_ok_run() -> None:
    result = synthetic_result(models=("broken",), runs=6, error_every=1)
    doc = to_dict(result)
    for run in doc["models"][0]["runs"]:  # the warm-up too
        run.update(ok=False, ttft_s=None, e2e_s=None, output_tokens=None)
    html = to_html(doc)
    assert_self_contained(html)
    assert "No ok run: nothing to draw." in html
    assert "<title>Errors</title>" in html  # the failures, over time
    assert "No ok run had a TTFT" in html


def test_no_measured_run_at_all() -> None:
    doc = to_dict(synthetic_result(runs=2))
    for model in doc["models"]:
        model["runs"] = []
        model["summary"] = None
        model["phase"] = "cancelled"
    html = to_html(doc)
    assert_self_contained(html)
    assert "No measured run: nothing to draw." in html


def test_an_older_export_without_the_keys_added_since() -> None:
    doc = to_dict(synthetic_result(models=("a", "b")))
    added = ("first_output", "arrivals", "tokens_per_arrival", "buffered", "not_streamed",
             "clock", "clock_diff", "itl_mean_s", "itl_p50_s", "itl_p99_s")  # fmt: skip
    for model in doc["models"]:
        for run in model["runs"]:
            for key in added:
                run.pop(key, None)
        model["summary"].pop("buffered_runs")
        model["summary"].pop("not_streamed_runs")
    doc.pop("telemetry")
    html = to_html(doc)
    assert_self_contained(html)
    assert "Inter-token gap, a: no value" in html
    assert "<title>TTFT, a</title>" in html


def test_a_foreign_document_is_refused() -> None:
    with pytest.raises(ForeignDocumentError):
        to_html({"hello": "world"})
    newer = to_dict(synthetic_result())
    newer["schema_version"] = 999
    with pytest.raises(ForeignDocumentError):
        to_html(newer)


# --------------------------------------------------------------------------- telemetry


def _telemetry() -> dict[str, Any]:
    return {
        "interval_s": 1.0,
        "sources": [
            {"source": "prometheus", "url": "http://127.0.0.1:8000/metrics", "available": True,
             "reason": None, "samples": 12, "failures": 0},
            {"source": "llamacpp_slots", "url": "http://127.0.0.1:8000/slots",
             "available": False, "reason": "404 Not Found", "samples": 0, "failures": 1},
        ],
        "server": {"total_slots": 4, "model_alias": "<alias>"},
        "series": [
            {"source": "prometheus", "metric": "requests_running",
             "name": "vllm:num_requests_running", "label": None, "unit": "requests",
             "samples": [[-0.5, 0], [1.0, 2], [2.0, 4], [3.0, 3]]},
            {"source": "prometheus", "metric": "kv_cache_usage", "name": "vllm:kv_cache_usage_perc",
             "label": None, "unit": "%", "samples": [[1.0, 10.0], [2.0, 55.5], [3.0, 40.0]]},
            {"source": "ollama_ps", "metric": "size_vram", "name": "size_vram",
             "label": "<m1>", "unit": "bytes", "samples": [[1.0, 4.0e9], [2.0, 4.0e9]]},
            {"source": "ollama_ps", "metric": "size_vram", "name": "size_vram",
             "label": "m2", "unit": "bytes", "samples": [[2.0, 2.0e9], [3.0, 2.1e9]]},
        ],
        "summary": [
            {"source": "prometheus", "metric": "requests_running", "label": None,
             "unit": "requests", "n": 4, "peak": 4, "mean": 2.25},
        ],
        "histograms": [
            {"metric": "server_ttft", "model": "m1", "count": 12, "mean_s": 0.05, "p50_s": 0.04,
             "p90_s": 0.09, "p99_s": 0.12},
        ],
        "ttft_client_vs_server": [
            {"model": "m1", "client_mean_s": 0.06, "server_mean_s": 0.05, "difference_s": 0.01,
             "n_client": 12, "n_server": 12, "server_source": "vllm:time_to_first_token_seconds",
             "difference_is": "network and the client"},
        ],
        "model_events": [
            {"model": "m1", "event": "reloaded", "t_s": 2.0, "since_s": 1.0, "detail": "size",
             "runs": [3, 4]},
        ],
    }  # fmt: skip


def test_telemetry_series_are_drawn_on_the_run_axis_with_their_tables() -> None:
    doc = to_dict(synthetic_result())
    doc["telemetry"] = _telemetry()
    html = to_html(doc)
    assert_self_contained(html)
    assert 'id="telemetry"' in html
    # one chart per (source, metric); the two Ollama models on one chart
    for title in ("requests_running (prometheus)", "kv_cache_usage (prometheus)",
                  "size_vram (ollama_ps)"):  # fmt: skip
        assert f"<title>{title}</title>" in html
    assert html.count("<title>size_vram (ollama_ps)</title>") == 1
    vram = html.split("<title>size_vram (ollama_ps)</title>")[1].split("</svg>")[0]
    assert "&lt;m1&gt;" in vram and ">m2<" in vram and "GiB" in vram
    assert "peak 4 requests" in html  # the text alternative
    rows = table_rows(html, "Telemetry sources")
    assert rows[1][:4] == ["llamacpp_slots", "http://127.0.0.1:8000/slots", "no", "404 Not Found"]
    assert table_rows(html, "Client TTFT against the server's own")[0][0] == "m1"
    assert table_rows(html, "Models loaded, reloaded or unloaded during the run")[0][-1] == "2"
    assert table_rows(html, "The server's own latency histograms over the run")[0][2] == "12"
    assert table_rows(html, "What the server said about itself") == [
        ["total_slots", "4"],
        ["model_alias", "<alias>"],
    ]


def test_a_long_run_draws_at_most_max_dots_dots() -> None:
    result = synthetic_result(models=("a", "b"), runs=MAX_DOTS + 200)
    html = html_report(result)
    ttft = html.split("<title>TTFT over time</title>")[1].split("</svg>")[0]
    dots = ttft.count("<circle")
    assert MAX_DOTS // 2 < dots <= MAX_DOTS
    stride = -(-(2 * (MAX_DOTS + 200)) // MAX_DOTS)  # ok runs of both models / MAX_DOTS
    assert f"One run in {stride} is drawn as a dot; the p50/p99 lines use them all." in ttft
    small = html_report(synthetic_result(models=("a", "b"), runs=30))
    ttft = small.split("<title>TTFT over time</title>")[1].split("</svg>")[0]
    assert ttft.count("<circle") == 60 and "is drawn as a dot" not in ttft


def test_telemetry_null_or_without_series() -> None:
    doc = to_dict(synthetic_result())
    doc["telemetry"] = None
    assert 'id="telemetry"' not in to_html(doc)
    doc["telemetry"] = {**_telemetry(), "series": []}
    html = to_html(doc)
    assert_self_contained(html)
    assert "No telemetry series was recorded." in html


# --------------------------------------------------------------------------- steps


def _steps(repeat: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A concurrency sweep's ``sweep`` and ``steps`` as docs/json-schema.md (version 2)
    describes them: loads 1, 2, 4, 8; one model; a TTFT SLO; ``repeat`` runs per load."""
    steps = []
    for i, conc in enumerate((1, 2, 4, 8)):
        for r in range(repeat):
            through = [0.9, 1.7, 3.1, 3.3][i] + 0.2 * r
            steps.append(
                {
                    "index": i,
                    "load": {"kind": "concurrency", "value": conc},
                    "repeat": r,
                    "role": "step" if r == 0 else "repeat",
                    "started_s": 10.0 * i,
                    "duration_s": 9.5,
                    "cancelled": False,
                    "meets_slo": i < 3,
                    "models": [
                        {
                            "model": "m<1>",
                            "phase": "done",
                            "runs": {"from": 6 * i, "count": 6},
                            "point": {
                                "offered": conc,
                                "throughput_rps": through,
                                "output_tps": through * 64,
                                "ttft_p50_s": 0.05 * (i + 1),
                                "ttft_p99_s": 0.1 * (i + 1),
                                "e2e_p50_s": 1.2,
                                "tpot_p50_s": 0.02,
                                "goodput_rps": through if i < 3 else 0.5,
                                "token_goodput_tps": None,
                                "attainment": 1.0 if i < 3 else 0.15,
                                "error_rate": 0.0,
                            },
                            "summary": {"runs": 6, "ok": 6, "errors": 0, "metrics": {}},
                            "slo": None,
                            "check": {"percentile": 90, "ok": i < 3},
                        }
                    ],
                }
            )
    sweep = {
        "mode": "sweep",
        "kind": "concurrency",
        "spec": "concurrency=1,2,4,8",
        "repeat": repeat,
        "slo": {"limits_ms": {"ttft": 250}, "percentile": 90},
        "rules": {},
        "stop_reason": None,
        "meets_slo": True,
        "knees": [
            {"model": "m<1>", "index": 2, "load": {"kind": "concurrency", "value": 4},
             "throughput_rps": 3.1, "max_throughput_rps": 3.3}
        ],
        "search": None,
        "repeats": [],
    }  # fmt: skip
    return sweep, steps


def test_a_document_with_steps_gets_the_sweep_table_and_curves() -> None:
    doc = to_dict(synthetic_result())
    doc["sweep"], doc["steps"] = _steps()
    html = to_html(doc)
    assert_self_contained(html)
    rows = table_rows(html, "4 steps, one row per step and model")
    assert rows[2] == [
        "2", "concurrency 4", "m<1>", "6/0", "3.10", "198.40", "150 ms", "300 ms", "1200 ms",
        "20.0 ms", "3.10", "100%", "meets",
    ]  # fmt: skip
    assert rows[3][-2:] == ["15%", "misses"]
    assert "<h2>Sweep</h2>" in html and "Sweep: concurrency=1,2,4,8." in html
    assert "m&lt;1&gt;: knee at concurrency 4 (3.10 req/s of at most 3.30)." in html
    assert "SLOs: ttft ≤ 250 ms (percentile p90)." in html
    assert "<title>Throughput against offered load</title>" in html
    ttft = html.split("<title>TTFT against throughput</title>")[1].split("</svg>")[0]
    assert 'class="mark"' in ttft and "TTFT SLO 250 ms" in ttft
    assert "offered concurrency (streams)" in html
    assert "<title>m&lt;1&gt; goodput</title>" in html


def test_the_time_series_mark_where_each_step_started() -> None:
    doc = to_dict(synthetic_result(runs=30))  # runs over about 50 s
    assert 'class="xmark"' not in to_html(doc)
    doc["sweep"], doc["steps"] = _steps()  # steps start at 0, 10, 20 and 30 s
    html = to_html(doc)
    for title in ("Output tokens/s", "Requests in flight", "TTFT over time"):
        chart = html.split(f"<title>{title}</title>")[1].split("</svg>")[0]
        labels = re.findall(r'<g class="xmark">.*?<text [^>]*>([^<]*)</text>', chart)
        assert labels == ["c=1", "c=2", "c=4", "c=8"], (title, labels)


def test_repeats_of_a_load_are_one_point_of_the_curve() -> None:
    doc = to_dict(synthetic_result())
    doc["sweep"], doc["steps"] = _steps(repeat=2)
    html = to_html(doc)
    rows = table_rows(html, "8 steps, one row per step and model")
    assert [r[0] for r in rows[:2]] == ["0.1", "0.2"]
    through = html.split("<title>m&lt;1&gt; throughput</title>")[1].split("</g>")[0]
    assert through.count("L") == 3  # four loads: one line of 4 points, repeats averaged


def test_steps_absent_empty_or_odd_render_nothing_or_what_they_have() -> None:
    doc = to_dict(synthetic_result())
    for steps in (None, [], "nonsense", [1, 2]):
        doc["steps"] = steps
        assert 'id="steps"' not in to_html(doc)
    doc["steps"] = [{"index": 0, "role": "<odd>", "models": [{"model": "x"}]}]
    html = to_html(doc)  # no load, no figures: a row of dashes, no curves
    assert_self_contained(html)
    assert 'id="steps"' in html and table_rows(html, "1 steps, one row per step and model")
    assert "Throughput against offered load" not in html


# --------------------------------------------------------------------------- formats


def test_html_is_an_export_format_rendered_by_the_report() -> None:
    result = synthetic_result()
    assert ExportFormat.from_path("r.html") is ExportFormat.HTML
    assert ExportFormat.from_path("r.HTM") is ExportFormat.HTML
    assert default_export_path(result, ExportFormat.HTML).suffix == ".html"
    with pytest.raises(ValueError, match=r"core\.report"):
        render(result, ExportFormat.HTML)
    assert report_render(result, "html").startswith("<!DOCTYPE html>")
    assert report_render(result, "md") == render(result, "md")
    # built from the JSON document: the same page from the result and from its export
    doc = copy.deepcopy(to_dict(result))
    assert to_html(doc) == report_render(result, ExportFormat.HTML)


# --------------------------------------------------------------------------- svg


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert nice_ticks(0, 1000, 5) == [0, 200, 400, 600, 800, 1000]
    assert nice_ticks(0.0123, 0.0987, 4) == pytest.approx([0.0, 0.025, 0.05, 0.075, 0.1])
    flat = nice_ticks(5, 5)  # a single value: a range around it
    assert flat[0] < 5 < flat[-1]
    ticks = nice_ticks(-3, 17, 5)
    assert ticks[0] <= -3 and ticks[-1] >= 17 and len(ticks) <= 8


def test_a_fixed_x_range_gets_at_least_two_round_ticks() -> None:
    # a narrow histogram whose range holds one tick of the coarse step (0.02: 20.02 only)
    low, high = 20.001, 20.0313
    chart = Chart(
        "h", "d", (Series("s", [(low, 1.0), (20.02, 2.0)], kind="bars", width=0.01),), "x", "y",
        x_range=(low, high), width=280, height=180, x_format=lambda v: f"{v:.6g}",
    )  # fmt: skip
    svg = render_chart(chart)
    ticks = re.findall(r'text-anchor="middle">([0-9.]+)</text>', svg)
    assert len(ticks) >= 2 and all(low <= float(t) <= high for t in ticks), ticks


def test_a_mark_s_label_stays_inside_the_chart() -> None:
    # an SLO line at the top of the y axis: its label goes under it, not off the chart
    for limit in (60.0, 20.0):
        series = (Series("s", [(1.0, 30.0), (2.0, 45.0)]),)
        svg = render_chart(Chart("t", "d", series, "x", "y", marks=[(limit, "SLO")]))
        mark = re.search(r'<g class="mark"><line [^>]*y1="([0-9.]+)"[^>]*/><text x="[0-9.]+" '
                         r'y="([0-9.]+)" text-anchor="end">SLO</text>', svg)  # fmt: skip
        assert mark is not None
        line_y, text_y = float(mark.group(1)), float(mark.group(2))
        assert text_y >= 10, (limit, text_y)
        assert (text_y > line_y) == (limit == 60.0)  # below the line only at the top


def test_a_chart_with_nothing_finite_says_so() -> None:
    svg = render_chart(
        Chart("Empty <x>", "nothing", (Series("s", [(float("nan"), 1.0)]),), "x", "y")
    )
    assert "no data" in svg and "<title>Empty &lt;x&gt;</title>" in svg
    assert "<path" not in svg


def test_a_scale_shows_figures_of_1000_or_more_in_full() -> None:
    from ometer_tui.core.report.charts import Scale

    ms = Scale(1000.0, "ms")
    assert ms.text(2.0) == "2,000 ms"  # was "2e+03 ms" on the TTFT SLO line
    assert ms.text(0.0314) == "31.4 ms"
    assert ms.text(None) == "–"
