"""Settings: paths, load/save round trip, errors that name keys, never a secret."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from ometer_tui.core import settings as settings_mod
from ometer_tui.core.models import ApiFlavour, Endpoint, EndpointDefaults, TimeoutPolicy
from ometer_tui.core.secrets import Secret, TokenRef
from ometer_tui.core.settings import (
    Defaults,
    Settings,
    SettingsError,
    UiSettings,
    config_path,
    display_path,
    load_settings,
    save_settings,
    settings_dump,
    validate_endpoint,
)

CANARY = "sk-CANARY-1234567890abcdef"
POSIX = os.name == "posix"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _full_settings() -> Settings:
    return Settings(
        endpoints=[
            Endpoint(
                name="gpu-box",
                url="https://gpu-box.lan:11434",
                api=ApiFlavour.OLLAMA,
                token=TokenRef(value=Secret(CANARY)),
                api_key=TokenRef(env="GPU_BOX_KEY"),
                api_key_header="X-Custom-Key",
                headers={"X-Team": "bench", "X-Trace": "1"},
                timeouts=TimeoutPolicy(connect_s=3.0, read_s=30.5, total_s=300.0),
                defaults=EndpointDefaults(
                    passes=5,
                    warmup=2,
                    temperature=0.7,
                    max_tokens=256,
                    concurrency=4,
                    timeout_s=90.0,
                ),
                allow_insecure_http=True,
            ),
            Endpoint(
                name="cloud",
                url="https://api.example.com/v1",
                api=ApiFlavour.OPENAI,
                token=TokenRef(env="CLOUD_TOKEN"),
            ),
            Endpoint(name="auto", url="http://localhost:8080"),
        ],
        defaults=Defaults(
            passes=4,
            warmup=0,
            temperature=None,
            max_tokens=64,
            concurrency=2,
            parallel_models=3,
            timeout_s=30.0,
            prompts=("one", "two"),
            top_p=0.9,
            top_k=40,
            seed=7,
        ),
        ui=UiSettings(theme="nord", keymap={"run": "ctrl+r", "quit": "q,ctrl+c"}),
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ paths


def test_config_path_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMETER_TUI_CONFIG", str(tmp_path / "env.toml"))
    assert config_path(tmp_path / "cli.toml") == tmp_path / "cli.toml"
    assert config_path(str(tmp_path / "cli.toml")) == tmp_path / "cli.toml"
    assert config_path() == tmp_path / "env.toml"
    monkeypatch.delenv("OMETER_TUI_CONFIG")
    default = config_path()
    assert default.name == "config.toml"
    assert "ometer-tui" in default.parts


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "none" / "config.toml")
    assert s == Settings()
    assert s.endpoints == []
    assert s.defaults.temperature == 0.0
    assert s.warnings == []


# ------------------------------------------------------------------ round trip


def test_round_trip_every_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cfg" / "config.toml"
    monkeypatch.setenv("OMETER_TUI_CONFIG", str(path))
    monkeypatch.setenv("CLOUD_TOKEN", "sk-resolved-from-env-0000000000")
    original = _full_settings()
    save_settings(original, config_path())
    loaded = load_settings(config_path())
    assert loaded == original
    assert loaded.warnings == []

    text = path.read_text()
    data = tomllib.loads(text)
    cloud = data["endpoints"][1]
    assert cloud["token_env"] == "CLOUD_TOKEN"  # the reference, not the value
    assert "token" not in cloud
    assert "sk-resolved-from-env" not in text
    gpu = data["endpoints"][0]
    assert gpu["token"] == CANARY  # a literal is saved literally (file is 0600)
    assert gpu["api_key_env"] == "GPU_BOX_KEY"
    assert gpu["api_key_header"] == "X-Custom-Key"
    assert gpu["headers"] == {"X-Team": "bench", "X-Trace": "1"}
    assert gpu["timeouts"] == {"connect_s": 3.0, "read_s": 30.5, "total_s": 300.0}
    assert gpu["defaults"]["passes"] == 5
    assert data["defaults"]["temperature"] == "server"
    assert data["ui"]["keymap"] == {"run": "ctrl+r", "quit": "q,ctrl+c"}
    # defaults-equal fields are left out to keep the file readable
    auto = data["endpoints"][2]
    assert auto == {"name": "auto", "url": "http://localhost:8080"}


def test_default_settings_save_small_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    save_settings(Settings(), path)
    assert path.read_text() == ""
    assert load_settings(path) == Settings()


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_modes_and_backup(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "ometer-tui"
    path = folder / "config.toml"
    first = _full_settings()
    save_settings(first, path)
    assert _mode(path) == 0o600
    assert _mode(folder) == 0o700
    assert not (folder / "config.toml.bak").exists()
    before = path.read_bytes()

    second = first.without_endpoint("auto")
    save_settings(second, path)
    backup = folder / "config.toml.bak"
    assert backup.read_bytes() == before
    assert _mode(backup) == 0o600
    assert _mode(path) == 0o600
    assert load_settings(path) == second
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "config.toml.bak"]


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_symlinked_config_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "config.toml"
    real.parent.mkdir()
    real.write_text("")
    link = tmp_path / "config.toml"
    link.symlink_to(real)
    save_settings(_full_settings(), link)
    assert link.is_symlink()
    assert load_settings(real) == _full_settings()


# ------------------------------------------------------------------ errors


def test_unparseable_file_reports_line_and_is_not_overwritten(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        f'[defaults]\npasses = 3\n\n[[endpoints]]\nname = "x"\ntoken = "{CANARY}"\n  url\n',
    )
    before = path.read_bytes()
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    message = str(info.value)
    assert display_path(path) in message
    assert "line 7" in message and "column" in message
    assert info.value.line == 7
    assert CANARY not in message

    with pytest.raises(SettingsError) as info2:
        save_settings(_full_settings(), path)
    assert "line 7" in str(info2.value)
    assert CANARY not in str(info2.value)
    assert path.read_bytes() == before
    assert not (tmp_path / "config.toml.bak").exists()

    # told to: overwritten, the broken file kept as the backup
    save_settings(Settings(), path, overwrite_unparseable=True)
    assert (tmp_path / "config.toml.bak").read_bytes() == before
    assert load_settings(path) == Settings()


def test_invalid_file_is_not_overwritten_either(tmp_path: Path) -> None:
    path = _write(tmp_path / "config.toml", "[defaults]\npasses = 0\n")
    before = path.read_bytes()
    with pytest.raises(SettingsError, match=r"defaults\.passes"):
        save_settings(Settings(), path)
    assert path.read_bytes() == before


def test_display_path_uses_tilde(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_path(tmp_path / ".config" / "x.toml") == str(Path("~/.config/x.toml"))
    assert display_path(Path("/elsewhere/x.toml")) == str(Path("/elsewhere/x.toml"))


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\n[endpoints.timeouts]\nread_s="fast"\n',
            'endpoints[0].timeouts.read_s: expected a number, got "fast"',
        ),
        ('[defaults]\npasses = "3"\n', 'defaults.passes: expected an integer, got "3"'),
        ("[defaults]\npasses = 2.5\n", "defaults.passes: expected an integer, got 2.5"),
        ("[defaults]\nwarmup = true\n", "defaults.warmup: expected an integer, got true"),
        ("[defaults]\ntemperature = 3.0\n", "defaults.temperature: must be 0..2 (got 3)"),
        ("[defaults]\ntimeout_s = nan\n", "defaults.timeout_s: must be a finite number"),
        ("[defaults]\nconcurrency = 0\n", "defaults.concurrency: must be 1..4096 (got 0)"),
        ("[defaults]\nprompts = [1]\n", "defaults.prompts: expected an array of strings"),
        ("[ui]\ntheme = 3\n", "ui.theme: expected a string, got 3"),
        ("[ui.keymap]\nrun = 1\n", "ui.keymap.run: expected a string, got 1"),
        (
            '[[endpoints]]\nname="a"\nurl="ftp://h"\n',
            "endpoints[0].url: scheme must be http or https",
        ),
        ('[[endpoints]]\nname="a"\nurl="http://"\n', "endpoints[0].url: must include a host"),
        ('[[endpoints]]\nname="a"\nurl="localhost:11434"\n', "endpoints[0].url: scheme must be"),
        ('[[endpoints]]\nname="a"\n', "endpoints[0].url: missing"),
        ('[[endpoints]]\nurl="http://h"\n', "endpoints[0].name: missing"),
        ('[[endpoints]]\nname="a"\nurl="http://h"\napi="grpc"\n', "endpoints[0].api: expected"),
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\nallow_insecure_http="yes"\n',
            "endpoints[0].allow_insecure_http: expected true or false",
        ),
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\n[endpoints.defaults]\npasses=0\n',
            "endpoints[0].defaults.passes: must be at least 1 (got 0)",
        ),
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\n[endpoints.timeouts]\nconnect_s=-1\n',
            "endpoints[0].timeouts.connect_s: must be greater than 0 (got -1)",
        ),
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\nheaders={"Bad Name"="x"}\n',
            "endpoints[0].headers: 'Bad Name' is not a valid header name",
        ),
        (
            '[[endpoints]]\nname="a"\nurl="http://h"\n[[endpoints]]\nname="a"\nurl="http://g"\n',
            "endpoints[1].name: duplicate endpoint name 'a'",
        ),
        ('endpoints = "x"\n', "endpoints: expected an array of tables"),
    ],
)
def test_wrong_values_name_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    path = _write(tmp_path / "config.toml", toml)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert expected in str(info.value)
    assert display_path(path) in str(info.value)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.toml", '[defaults]\npasses = "x"\nwarmup = "y"\n')
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert len(info.value.problems) == 2
    assert "2 problems" in str(info.value)


def test_token_and_token_env_both_set(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        f'[[endpoints]]\nname="a"\nurl="http://h"\ntoken="{CANARY}"\ntoken_env="T"\n',
    )
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "endpoints[0].token: set either token or token_env, not both" in str(info.value)
    assert CANARY not in str(info.value)


@pytest.mark.parametrize(
    "line",
    [
        "token = 12345678901234567890",  # wrong type
        f'token = ["{CANARY}"]',  # wrong type, canary inside
        f'token_env = "{CANARY}"',  # token pasted into the env field
        f'api_key_env = "{CANARY}"',
        f'api_key = {{ v = "{CANARY}" }}',
        f'headers = {{ Authorization = ["Bearer {CANARY}"] }}',
        f'url = "http://user:{CANARY}@h:99999"',  # bad port, credentials in the URL
    ],
)
def test_secret_never_in_error_messages(tmp_path: Path, line: str) -> None:
    body = '[[endpoints]]\nname = "a"\n' + line + "\n"
    if not line.startswith("url"):
        body += 'url = "http://h"\n'
    path = _write(tmp_path / "config.toml", body)
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert CANARY not in str(info.value)
    assert "12345678901234567890" not in str(info.value)
    assert "endpoints[0]." in str(info.value)


def test_unset_token_env_is_not_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMETER_TEST_UNSET", raising=False)
    path = _write(
        tmp_path / "config.toml",
        '[[endpoints]]\nname="a"\nurl="http://h"\ntoken_env="OMETER_TEST_UNSET"\n',
    )
    s = load_settings(path)
    ep = s.endpoint("a")
    assert ep is not None and ep.token == TokenRef(env="OMETER_TEST_UNSET")


def test_unknown_keys_are_warnings(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        "colour = 1\n[defaults]\npases = 3\n[ui]\nfont = 'x'\n"
        f'[[endpoints]]\nname="a"\nurl="http://h"\ntokn="{CANARY}"\n'
        "[endpoints.timeouts]\nwrite_s = 1\n",
    )
    s = load_settings(path)
    joined = "\n".join(s.warnings)
    for key in (
        "colour",
        "defaults.pases",
        "ui.font",
        "endpoints[0].tokn",
        "endpoints[0].timeouts.write_s",
    ):
        assert key in joined
    assert CANARY not in joined
    assert len(s.warnings) == 5


def test_api_auto_and_case(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config.toml",
        '[[endpoints]]\nname="a"\nurl="http://h"\napi="auto"\n'
        '[[endpoints]]\nname="b"\nurl="http://h"\napi="OpenAI"\n',
    )
    s = load_settings(path)
    assert [ep.api for ep in s.endpoints] == [None, ApiFlavour.OPENAI]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[defaults]\n\xff\xfe = 1\n")
    with pytest.raises(SettingsError, match="UTF-8"):
        load_settings(path)


def test_save_refuses_invalid_settings(tmp_path: Path) -> None:
    bad = Settings(endpoints=[Endpoint(name="a", url="nope")])
    with pytest.raises(SettingsError, match=r"endpoints\[0\]\.url"):
        save_settings(bad, tmp_path / "config.toml")
    assert not (tmp_path / "config.toml").exists()


def test_save_to_unwritable_place_raises_oserror(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError) as info:
        save_settings(Settings(), blocker / "sub" / "config.toml")
    assert str(blocker) in str(info.value)


# ------------------------------------------------------------------ dump and helpers


def test_settings_dump_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUD_TOKEN", CANARY)
    s = _full_settings()
    s = s.with_endpoint(
        Endpoint(
            name="creds",
            url=f"https://user:{CANARY}@host.example",
            headers={"Authorization": f"Bearer {CANARY}"},
            api_key=TokenRef(value=Secret(CANARY)),
        )
    )
    text = settings_dump(s)
    assert CANARY not in text
    assert "cdef" in text  # masked forms keep the last four characters
    assert 'token_env = "CLOUD_TOKEN"' in text
    assert "$CLOUD_TOKEN (set)" in text
    data = tomllib.loads(text)
    assert data["defaults"]["passes"] == 4  # full dump includes every default
    assert data["endpoints"][2]["api"] == "auto"


def test_validate_endpoint_names_fields() -> None:
    ep = Endpoint(
        name=" ",
        url="ftp://x",
        api_key_header="Bad Header",
        timeouts=TimeoutPolicy(read_s=0),
        defaults=EndpointDefaults(temperature=5.0),
        token=TokenRef(value=Secret("")),
    )
    problems = validate_endpoint(ep)
    fields = {p.split(":", 1)[0] for p in problems}
    assert {
        "name",
        "url",
        "api_key_header",
        "timeouts.read_s",
        "defaults.temperature",
        "token",
    } <= fields
    assert validate_endpoint(Endpoint(name="ok", url="http://localhost:11434")) == []


def test_endpoint_helpers() -> None:
    s = _full_settings()
    assert s.endpoint("cloud") is not None
    assert s.endpoint("missing") is None
    renamed = replace(s.endpoints[1], name="cloud2")
    s2 = s.with_endpoint(renamed, replace_name="cloud")
    assert [e.name for e in s2.endpoints] == ["gpu-box", "cloud2", "auto"]
    assert [e.name for e in s.endpoints] == ["gpu-box", "cloud", "auto"]  # unchanged
    with pytest.raises(ValueError, match="name: an endpoint named 'auto'"):
        s.with_endpoint(replace(s.endpoints[0], name="auto"), replace_name="gpu-box")
    with pytest.raises(ValueError):
        s.with_endpoint(Endpoint(name="cloud", url="http://x"))
    with pytest.raises(KeyError):
        s.with_endpoint(Endpoint(name="new", url="http://x"), replace_name="ghost")
    s3 = s.with_endpoint(Endpoint(name="new", url="http://x"))
    assert s3.endpoint("new") is not None and len(s3.endpoints) == 4
    assert [e.name for e in s3.without_endpoint("cloud").endpoints] == ["gpu-box", "auto", "new"]


def test_defaults_for_endpoint_and_params() -> None:
    s = _full_settings()
    eff = s.defaults.for_endpoint(s.endpoints[0])
    assert (eff.passes, eff.warmup, eff.temperature, eff.max_tokens) == (5, 2, 0.7, 256)
    assert eff.parallel_models == 3
    params = s.defaults.generation_params()
    assert params.temperature is None and params.top_k == 40 and params.seed == 7


def test_module_never_imports_ui() -> None:
    import sys

    assert settings_mod.__name__ in sys.modules
    assert "textual" not in settings_mod.__dict__


def test_the_settings_package_keeps_its_public_import_path() -> None:
    # core/settings.py became a package (model, paths, validation, read, write); what the
    # TUI and headless import from ``ometer_tui.core.settings`` still resolves there
    from ometer_tui.core.settings import model, read, validation, write

    for name in settings_mod.__all__:
        assert getattr(settings_mod, name) is not None, name
    assert settings_mod.Settings is model.Settings
    assert settings_mod.load_settings is read.load_settings
    assert settings_mod.save_settings is write.save_settings
    assert settings_mod.validate_endpoint is validation.validate_endpoint
