"""Telemetry settings: ``[telemetry]`` and an endpoint's ``metrics_url`` round trip,
bad values are named by key, the sampler takes the endpoint's metrics URL."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.core.settings import Settings, SettingsError, load_settings, save_settings
from ometer_tui.core.settings.write import settings_dump
from ometer_tui.core.telemetry.config import TelemetrySettings
from ometer_tui.core.telemetry.recording import SourceKind
from ometer_tui.core.telemetry.sampler import TelemetrySampler

METRICS = "http://gpu-box:8001/metrics"


def test_telemetry_table_and_metrics_url_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    endpoint = Endpoint(name="vllm", url="http://gpu-box:8000", metrics_url=METRICS)
    settings = Settings(
        endpoints=[endpoint], telemetry=TelemetrySettings(enabled=False, interval_s=0.5)
    )
    save_settings(settings, path)
    data = tomllib.loads(path.read_text())
    assert data["telemetry"] == {"enabled": False, "interval_s": 0.5}
    assert data["endpoints"][0]["metrics_url"] == METRICS
    loaded = load_settings(path)
    assert loaded.telemetry == settings.telemetry
    assert loaded.endpoints[0].metrics_url == METRICS
    assert "interval_s = 0.5" in settings_dump(loaded)


def test_defaults_are_not_written_and_are_read_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_settings(Settings(endpoints=[Endpoint(name="a", url="http://h:1")]), path)
    data = tomllib.loads(path.read_text())
    assert "telemetry" not in data and "metrics_url" not in data["endpoints"][0]
    loaded = load_settings(path)
    assert loaded.telemetry == TelemetrySettings(enabled=True, interval_s=1.0)
    assert loaded.endpoints[0].metrics_url is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[telemetry]\ninterval_s = 0.1\n", "telemetry.interval_s: must be at least 0.25 s"),
        ("[telemetry]\ninterval_s = 0\n", "telemetry.interval_s: must be at least 0.25 s"),
        ("[telemetry]\ninterval_s = nan\n", "telemetry.interval_s: must be a finite number"),
        ('[telemetry]\ninterval_s = "fast"\n', "telemetry.interval_s: expected a number"),
        ('[telemetry]\nenabled = "yes"\n', "telemetry.enabled: expected true or false"),
        (
            '[[endpoints]]\nname = "a"\nurl = "http://h:1"\nmetrics_url = "h:8001/metrics"\n',
            "endpoints[0].metrics_url: must start with http:// or https://",
        ),
        (
            '[[endpoints]]\nname = "a"\nurl = "http://h:1"\nmetrics_url = 8001\n',
            "endpoints[0].metrics_url: expected a string",
        ),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert needle in str(caught.value)


def test_credentials_in_a_metrics_url_are_refused_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[endpoints]]\nname = "a"\nurl = "http://h:1"\n'
        'metrics_url = "http://user:s3cr3t-canary@h:8001/metrics"\n'
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert "endpoints[0].metrics_url: must not carry credentials" in str(caught.value)
    assert "s3cr3t-canary" not in str(caught.value)


def test_an_unknown_telemetry_key_is_a_warning_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[telemetry]\nintervall = 2\n")
    assert any(
        w.startswith("telemetry.intervall: unknown key") for w in load_settings(path).warnings
    )


def test_the_sampler_polls_the_endpoints_metrics_url_unless_told_another() -> None:
    endpoint = Endpoint(name="v", url="http://127.0.0.1:8000", api=ApiFlavour.OPENAI,
                        metrics_url="http://127.0.0.1:8001/metrics")  # fmt: skip
    sources = TelemetrySampler(endpoint).recording.sources
    assert sources[SourceKind.PROMETHEUS].url == "http://127.0.0.1:8001/metrics"
    assert sources[SourceKind.LLAMACPP_SLOTS].url == "http://127.0.0.1:8000/slots"
    flag = TelemetrySampler(endpoint, metrics_url="http://127.0.0.1:9/metrics")
    assert flag.recording.sources[SourceKind.PROMETHEUS].url == "http://127.0.0.1:9/metrics"
    plain = TelemetrySampler(Endpoint(name="v", url="http://127.0.0.1:8000"))
    assert plain.recording.sources[SourceKind.PROMETHEUS].url == "http://127.0.0.1:8000/metrics"
