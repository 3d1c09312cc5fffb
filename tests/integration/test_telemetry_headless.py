"""``ometer-tui run --telemetry ...`` end to end on the demo endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, save_settings
from ometer_tui.demo.server import DemoServerThread
from tests.integration.test_headless import ONE_QUICK_DEMO_RUN, ometer


def test_telemetry_on_by_default_off_when_asked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    on = ometer(*ONE_QUICK_DEMO_RUN, "--api", "openai", "--format", "json", "--no-history",
                config=config)  # fmt: skip
    assert on.returncode == 0, on.stderr
    doc = json.loads(on.stdout)["telemetry"]
    available = {s["source"] for s in doc["sources"] if s["available"]}
    assert available == {"prometheus", "ollama_ps"}
    assert "telemetry: prometheus, ollama_ps, every 1 s" in on.stderr
    assert "requests_running: peak" in on.stderr  # the summary at the end
    off = ometer(*ONE_QUICK_DEMO_RUN, "--telemetry", "off", "--format", "json", "--no-history",
                 config=config)  # fmt: skip
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["telemetry"] is None and "telemetry" not in off.stderr


def test_interval_floor_and_metrics_url_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    bad = ometer(*ONE_QUICK_DEMO_RUN, "--telemetry-interval", "0.1", config=config)
    assert bad.returncode == 2 and "0.25" in bad.stderr
    bad = ometer(*ONE_QUICK_DEMO_RUN, "--metrics-url", "localhost:8001", config=config)
    assert bad.returncode == 2 and "http://" in bad.stderr


def test_a_metrics_url_that_refuses_connections_leaves_the_run_alone(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    result = ometer(*ONE_QUICK_DEMO_RUN, "--metrics-url", "http://127.0.0.1:9/metrics",
                    "--telemetry-interval", "0.25", "--format", "json", "--no-history",
                    config=config)  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (prom,) = [s for s in doc["telemetry"]["sources"] if s["source"] == "prometheus"]
    assert prom == {
        "source": "prometheus", "url": "http://127.0.0.1:9/metrics", "available": False,
        "reason": "cannot connect", "samples": 0, "failures": 1,
    }  # fmt: skip
    assert all(r["ok"] for m in doc["models"] for r in m["runs"])


def test_the_settings_telemetry_table_is_read_and_the_flags_override_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[telemetry]\nenabled = false\ninterval_s = 0.5\n")
    off = ometer(*ONE_QUICK_DEMO_RUN, "--format", "json", "--no-history", config=config)
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["telemetry"] is None and "telemetry" not in off.stderr
    on = ometer(*ONE_QUICK_DEMO_RUN, "--telemetry", "on", "--format", "json", "--no-history",
                config=config)  # fmt: skip
    assert on.returncode == 0, on.stderr
    assert "every 0.5 s" in on.stderr  # the settings' interval
    assert json.loads(on.stdout)["telemetry"]["interval_s"] == 0.5
    flag = ometer(*ONE_QUICK_DEMO_RUN, "--telemetry", "on", "--telemetry-interval", "0.25",
                  "--format", "json", "--no-history", config=config)  # fmt: skip
    assert "every 0.25 s" in flag.stderr


def test_an_endpoints_metrics_url_is_polled_and_the_flag_overrides_it(
    tmp_path: Path, demo_server: DemoServerThread
) -> None:
    config = tmp_path / "config.toml"
    save_settings(
        Settings(endpoints=[Endpoint(name="d", url=demo_server.url, api=ApiFlavour.OLLAMA,
                                     metrics_url="http://127.0.0.1:9/metrics")]),
        config,
    )  # fmt: skip
    args = ("run", "--endpoint", "d", "--model", "demo-fast:1b", "--passes", "1",
            "--warmup", "0", "--max-tokens", "4", "--format", "json", "--no-history")  # fmt: skip
    result = ometer(*args, config=config)
    assert result.returncode == 0, result.stderr
    (prom,) = [s for s in json.loads(result.stdout)["telemetry"]["sources"]
               if s["source"] == "prometheus"]  # fmt: skip
    assert (prom["url"], prom["reason"]) == ("http://127.0.0.1:9/metrics", "cannot connect")
    flag = ometer(*args, "--metrics-url", f"{demo_server.url}/metrics", config=config)
    (prom,) = [s for s in json.loads(flag.stdout)["telemetry"]["sources"]
               if s["source"] == "prometheus"]  # fmt: skip
    assert prom["available"] and prom["url"] == f"{demo_server.url}/metrics"
