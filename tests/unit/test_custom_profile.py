"""Custom API profiles: JSON pointers, body templates, reading (bad input named by its
key), writing back, and the built-in profiles."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ometer_tui.core.api.base import GenerationRequest
from ometer_tui.core.api.custom import request_values
from ometer_tui.core.api.custom_profile import (
    BUILTIN_PROFILES,
    PointerError,
    builtin_profile,
    parse_pointer,
    profile_from_table,
    profile_to_table,
    render_template,
    resolve_pointer,
)
from ometer_tui.core.models import GenerationParams, ResponseFormat

WHERE = "endpoints.myapi.custom"


def test_pointer_parse_and_resolve() -> None:
    doc = {"a": {"b/c": [10, {"~x": "found"}]}, "": 1}
    assert parse_pointer("") == ()
    assert parse_pointer("/a/b~1c/1/~0x") == ("a", "b/c", "1", "~x")
    assert resolve_pointer(doc, parse_pointer("/a/b~1c/1/~0x")) == "found"
    assert resolve_pointer(doc, parse_pointer("/a/b~1c/0")) == 10
    assert resolve_pointer(doc, parse_pointer("/a/missing")) is None
    assert resolve_pointer(doc, parse_pointer("/a/b~1c/9")) is None
    assert resolve_pointer(doc, parse_pointer("/")) == 1


@pytest.mark.parametrize("bad", ["token/text", "/a/~2b", "/a~"])
def test_pointer_that_does_not_parse(bad: str) -> None:
    with pytest.raises(PointerError):
        parse_pointer(bad)


def test_template_typed_values_left_out_and_text() -> None:
    template = {
        "messages": "{messages}",
        "n": "{max_tokens}",
        "seed": "{seed}",
        "note": "model {model} says {{hi}}",
        "fixed": True,
        "nested": {"t": "{temperature}"},
    }
    body, filled = render_template(
        template,
        {
            "messages": [{"role": "user"}],
            "max_tokens": 5,
            "seed": None,
            "model": "m",
            "temperature": 0.5,
        },
    )
    assert body == {
        "messages": [{"role": "user"}],
        "n": 5,
        "note": "model m says {hi}",
        "fixed": True,
        "nested": {"t": 0.5},
    }
    assert ("n", "max_tokens") in filled and ("t", "temperature") in filled
    assert all(key != "seed" for key, _ in filled)


def test_request_values() -> None:
    params = GenerationParams(max_tokens=7, stop=("x",), response_format=ResponseFormat.JSON)
    values = request_values(GenerationRequest("m", "hi", params, system="be brief"))
    assert values["prompt"] == "be brief\n\nhi"
    assert values["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert values["stop"] == ["x"] and values["max_tokens"] == 7
    assert values["response_format"] == {"type": "json_object"}
    assert values["seed"] is None and values["image_b64"] is None


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"models": ["m"], "chat": {"path": "gen", "body": "{}"}},
            f"{WHERE}.chat.path: must start with /",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "body": '{"x": "{prompt_text}"}'}},
            f"{WHERE}.chat.body: unknown placeholder {{prompt_text}}",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "body": "{}", "text": "token.text"}},
            f"{WHERE}.chat.text: 'token.text' is not a JSON pointer",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "body": "{}", "mode": "websocket"}},
            f"{WHERE}.chat.mode: expected one of sse, ndjson, text, json",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "body": "{not json"}},
            f"{WHERE}.chat.body: not JSON",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "form": {"p": "{nope}"}}},
            f"{WHERE}.chat.form: unknown placeholder {{nope}}",
        ),
        ({"base": "llm-apy"}, f"{WHERE}.base: expected a built-in profile"),
        ({"models": ["m"], "chat": {"path": "/g"}, "colour": 1}, f"{WHERE}.colour: unknown key"),
        (
            {"models_path": "/m", "models_pointer": "data", "chat": {"path": "/g"}},
            f"{WHERE}.models_pointer: 'data' is not a JSON pointer",
        ),
        ({"chat": {"path": "/g"}}, f"{WHERE}.models: give the model names"),
        (
            {"models": ["m"], "chat": {"path": "/g", "mode": "json"}},
            f"{WHERE}.chat.text: a json response needs the pointer",
        ),
        (
            {"models": ["m"], "chat": {"path": "/g", "body": "{}", "form": {"p": "{prompt}"}}},
            f"{WHERE}.chat.body: give a JSON body or multipart form fields, not both",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field(table: dict[str, object], expected: str) -> None:
    profile, problems = profile_from_table(table, WHERE)
    assert profile is None
    assert any(p.startswith(expected) for p in problems), problems


def test_base_profile_and_override() -> None:
    profile, problems = profile_from_table(
        {"base": "llm-api", "chat": {"path": "/v2/chat/stream"}, "headers": {"X-Team": "b"}},
        WHERE,
    )
    assert problems == [] and profile is not None
    base = builtin_profile("llm-api")
    assert base is not None
    assert profile.routes["chat"] == replace(base.routes["chat"], path="/v2/chat/stream")
    assert profile.routes["vision"] == base.routes["vision"]
    assert profile.headers == {"X-Team": "b"} and profile.token_header == "X-API-Key"


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_builtin_profiles_round_trip_through_a_table(name: str) -> None:
    profile = BUILTIN_PROFILES[name]
    again, problems = profile_from_table(profile_to_table(profile), WHERE)
    assert problems == []
    assert again == replace(profile, name="custom")


def test_builtin_llm_api_shape() -> None:
    llm = BUILTIN_PROFILES["llm-api"]
    assert llm.routes["chat"].path == "/text_model/chat/stream"
    assert llm.routes["chat"].mode == "text"
    assert llm.routes["vision"].file_field == "image"
    assert dict(llm.routes["vision"].form) == {
        "prompt": "{prompt}",
        "temperature": "{temperature}",
    }
    whole = BUILTIN_PROFILES["llm-api-json"]
    assert whole.routes["chat"].path == "/text_model/chat/completion"
    assert whole.routes["chat"].pointers.text == "/response"


def test_endpoint_keys_read_and_written_through_toml() -> None:
    import tomllib

    import tomli_w

    from ometer_tui.core.api.custom_profile import api_options_from_table, api_options_to_table

    raw = {
        "name": "myapi",
        "api": "custom",
        "custom": {"base": "llm-api", "chat": {"path": "/v2/stream"}},
        "drop_unsupported": True,
        "truncate": "middle",
    }
    changes, problems = api_options_from_table(raw, "endpoints[0].")
    assert problems == []
    assert changes["custom"].name == "myapi"
    assert changes["custom"].routes["chat"].path == "/v2/stream"
    assert changes["drop_unsupported"] is True and changes["truncate"] == "middle"
    table = api_options_to_table(changes["custom"], True, "middle")
    again, problems = api_options_from_table(
        {"name": "myapi", **tomllib.loads(tomli_w.dumps(table))}, "endpoints[0]."
    )
    assert problems == [] and again == changes


def test_endpoint_keys_bad_values_named() -> None:
    from ometer_tui.core.api.custom_profile import api_options_from_table

    _, problems = api_options_from_table(
        {"api": "custom", "drop_unsupported": "yes", "truncate": "end"}, "endpoints[2]."
    )
    assert [p.split(":")[0] for p in problems] == [
        "endpoints[2].custom",
        "endpoints[2].drop_unsupported",
        "endpoints[2].truncate",
    ]
    _, problems = api_options_from_table(
        {"custom": {"models": ["m"], "chat": {"path": "x"}}}, "endpoints.myapi."
    )
    assert problems == ["endpoints.myapi.custom.chat.path: must start with / (got 'x')"]


SETTINGS = """
[[endpoints]]
name = "myapi"
url = "http://127.0.0.1:8000"
api = "custom"
token_env = "MYAPI_KEY"
drop_unsupported = true
truncate = "start"
[endpoints.custom]
base = "llm-api"
[endpoints.custom.chat]
path = "/v2/text/stream"
"""


def test_settings_file_reads_and_writes_a_custom_endpoint(tmp_path: Path) -> None:
    from ometer_tui.core.models import ApiFlavour
    from ometer_tui.core.settings import load_settings, save_settings

    path = tmp_path / "config.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    settings = load_settings(path)
    assert settings.warnings == []
    ep = settings.endpoints[0]
    assert ep.api is ApiFlavour.CUSTOM and ep.custom is not None
    assert ep.custom.name == "myapi"
    assert ep.custom.routes["chat"].path == "/v2/text/stream"
    assert ep.custom.routes["vision"].file_field == "image"
    assert ep.drop_unsupported and ep.truncate == "start"
    save_settings(settings, path)
    assert load_settings(path).endpoints[0] == ep


def test_settings_file_with_a_bad_profile_names_the_field(tmp_path: Path) -> None:
    from ometer_tui.core.settings import SettingsError, load_settings

    path = tmp_path / "config.toml"
    path.write_text(SETTINGS.replace('"/v2/text/stream"', '"v2/text/stream"'), encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(path)
    assert "endpoints[0].custom.chat.path: must start with /" in str(info.value)


def test_masked_profile_headers_hide_credentials() -> None:
    from ometer_tui.core.api.custom_profile import api_options_to_table

    profile = replace(BUILTIN_PROFILES["tgi"], headers={"X-API-Key": "sk-secret-123456"})
    shown = api_options_to_table(profile, False, None, masked=True)
    assert "sk-secret-123456" not in repr(shown)
    saved = api_options_to_table(profile, False, None)
    assert saved["custom"]["headers"] == {"X-API-Key": "sk-secret-123456"}


def test_saving_refuses_what_loading_would_refuse(tmp_path: Path) -> None:
    """The settings writer checks a profile with the loader's code: a file that would
    not load back is never written."""
    from ometer_tui.core.api_profile import Route
    from ometer_tui.core.models import ApiFlavour, Endpoint
    from ometer_tui.core.settings import Settings, SettingsError, save_settings

    path = tmp_path / "config.toml"
    tgi = BUILTIN_PROFILES["tgi"]
    bad_path = replace(tgi, routes={"chat": Route(path="gen", body={})})
    bad_pointer = replace(tgi, error_pointer="error")
    cases = [
        (None, 'custom: api = "custom" needs a profile'),
        (bad_path, "custom.chat.path: must start with /"),
        (bad_pointer, "custom.error_pointer: 'error' is not a JSON pointer"),
    ]
    for custom, expected in cases:
        endpoint = Endpoint(name="x", url="http://h:1", api=ApiFlavour.CUSTOM, custom=custom)
        with pytest.raises(SettingsError) as info:
            save_settings(Settings(endpoints=[endpoint]), path)
        assert expected in str(info.value)
        assert not path.exists()
    good = Endpoint(name="x", url="http://h:1", api=ApiFlavour.CUSTOM, custom=tgi)
    save_settings(Settings(endpoints=[good]), path)
    assert path.exists()


def test_builtin_name_ignores_the_name_only() -> None:
    from ometer_tui.core.api.custom_profile import builtin_name

    tgi = BUILTIN_PROFILES["tgi"]
    assert builtin_name(replace(tgi, name="my box")) == "tgi"
    assert builtin_name(replace(tgi, error_pointer="/message")) is None
