"""The endpoint form: connection, credentials, timeouts and the endpoint's own defaults.

Tokens are never shown: a password field starts empty with the saved token masked as
its placeholder; left empty it keeps the saved token, and "Remove the saved token"
takes a saved literal out (a key pasted by mistake must be removable from here).

State flows down (:meth:`EndpointForm.load`); the host reads :meth:`EndpointForm.read`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from ometer_tui.core.api_profile import CustomProfile
from ometer_tui.core.models import ApiFlavour, Endpoint, EndpointDefaults, TimeoutPolicy
from ometer_tui.core.secrets import Secret, TokenRef, redact_headers
from ometer_tui.core.settings import validate_endpoint
from ometer_tui.tui.widgets.cells import token_text
from ometer_tui.tui.widgets.form import (
    FORM_CSS,
    FormCheckbox,
    field_row,
    parse_headers,
    parse_number,
)
from ometer_tui.tui.widgets.profile_form import profile_summary

FLAVOURS: list[tuple[str, str]] = [
    ("auto (detect)", "auto"),
    ("ollama", "ollama"),
    ("openai", "openai"),
    ("custom (a profile)", "custom"),
]
#: a prompt longer than the context window (issue #14 §5)
TRUNCATE: list[tuple[str, str]] = [
    ("no: refuse the prompt", "none"),
    ("start: drop its beginning", "start"),
    ("middle: keep both ends", "middle"),
]

#: (field, label, kind, tooltip) of the endpoint's own defaults (empty: the global one)
ENDPOINT_DEFAULTS: tuple[tuple[str, str, type[int] | type[float], str], ...] = (
    ("passes", "Passes", int, "Empty: the global default"),
    ("warmup", "Warm-up", int, "Empty: the global default"),
    ("temperature", "Temperature", float, "0..2; empty: the global default"),
    ("max_tokens", "Max tokens", int, "Empty: the global default"),
    ("concurrency", "Concurrency", int, "Empty: the global default"),
    ("timeout_s", "Timeout s", float, "Empty: the global default"),
)


def secret_withheld(endpoint: Endpoint) -> bool:
    """A token or API key is set but will not be sent: plain http to another host
    without ``allow_insecure_http``."""
    has_secret = any(ref is not None and ref.is_set for ref in (endpoint.token, endpoint.api_key))
    return (
        has_secret
        and endpoint.origin[0] == "http"
        and not endpoint.is_loopback
        and not endpoint.allow_insecure_http
    )


def _shown(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


class EndpointForm(Vertical):
    """Name, URL, flavour, token / API key (or their environment variables), headers,
    timeouts, plain-HTTP permission and the endpoint's defaults."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    EndpointForm {
        height: auto;
    }
    EndpointForm > .panel-title {
        height: 1;
        color: $text-accent;
    }
    EndpointForm > .form-subtitle {
        height: 1;
        margin-top: 1;
        color: $text-accent;
    }
    EndpointForm #headers {
        height: 3;
    }
    EndpointForm > FormCheckbox {
        margin-left: 13;
    }
    EndpointForm > #allow_insecure_http {
        margin-top: 1;
        margin-left: 0;
    }
    EndpointForm > #drop_unsupported {
        margin-left: 0;
    }
    EndpointForm > #profile-summary {
        height: auto;
        margin-left: 13;
    }
    """
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: what the form was filled from (None: a new endpoint)
        self.base: Endpoint | None = None
        #: the custom flavour's profile, edited in the profile editor (issue #14)
        self.profile: CustomProfile | None = None

    class ProfileWanted(Message):
        """The user asked to edit the endpoint's API profile."""

        def __init__(self, profile: CustomProfile | None, endpoint_name: str) -> None:
            super().__init__()
            self.profile = profile
            self.endpoint_name = endpoint_name

    def compose(self) -> ComposeResult:
        yield Static(id="form-title", classes="panel-title")
        yield field_row("Name", Input(id="name", compact=True))
        yield field_row("URL", Input(id="url", compact=True, placeholder="http://localhost:11434"))
        yield field_row(
            "API", Select(FLAVOURS, id="api", value="auto", allow_blank=False, compact=True)
        )
        row = field_row(
            "Profile",
            Button("Edit the API profile…", id="edit_profile", compact=True),
            "Every field of the custom API",
        )
        row.id = "profile-row"
        yield row
        yield Static(id="profile-summary")
        yield field_row(
            "Token",
            Input(id="token", password=True, compact=True),
            "Bearer token; empty keeps the saved one",
        )
        yield FormCheckbox("Remove the saved token", id="token_remove", compact=True)
        yield field_row(
            "Token env",
            Input(id="token_env", compact=True, placeholder="e.g. MY_TOKEN"),
            "Read the token from this environment variable instead",
        )
        yield field_row("Key header", Input(id="api_key_header", compact=True, value="X-API-Key"))
        yield field_row(
            "API key",
            Input(id="api_key", password=True, compact=True),
            "Sent in the key header; empty keeps the saved one",
        )
        yield FormCheckbox("Remove the saved API key", id="api_key_remove", compact=True)
        yield field_row(
            "Key env",
            Input(id="api_key_env", compact=True),
            "Read the API key from this environment variable",
        )
        yield Label("Extra headers (Name: value per line)", classes="field-label")
        yield TextArea(id="headers", compact=True, tab_behavior="focus")
        yield field_row("Connect s", Input(id="connect_s", compact=True))
        yield field_row(
            "Read s",
            Input(id="read_s", compact=True),
            "Longest silence allowed between two chunks",
        )
        yield field_row("Total s", Input(id="total_s", compact=True))
        yield FormCheckbox(
            "Allow insecure http (tokens over plain HTTP)", id="allow_insecure_http", compact=True
        )
        metrics = Input(id="metrics_url", compact=True, placeholder="the URL's /metrics")
        yield field_row("Metrics URL", metrics, "Telemetry: a Prometheus /metrics elsewhere")
        yield FormCheckbox("Drop a parameter the server rejects (sent again without it)",
                           id="drop_unsupported", compact=True)  # fmt: skip
        yield field_row(
            "Too long",
            Select(TRUNCATE, id="truncate", value="none", allow_blank=False, compact=True),
            "A prompt longer than the model's context window",
        )
        yield Static(Text("This endpoint's defaults", style="bold"), classes="form-subtitle")
        for name, label, _, tooltip in ENDPOINT_DEFAULTS:
            yield field_row(
                label, Input(id=f"e_{name}", compact=True, placeholder="global"), tooltip
            )
        yield Static(id="endpoint-errors", classes="form-errors errors")

    def _input(self, field_id: str) -> Input:
        return self.query_one(f"#{field_id}", Input)

    # ----------------------------------------------------------------- filling
    def load(self, endpoint: Endpoint | None, *, title: Text) -> None:
        """Show ``endpoint`` (None: an empty form for a new one) under ``title``."""
        self.base = endpoint
        ep = endpoint or Endpoint(name="", url="")
        self.query_one("#form-title", Static).update(title)
        self._input("name").value = ep.name
        self._input("url").value = ep.url
        self.query_one("#api", Select).value = ep.api.value if ep.api else "auto"
        for key, ref in (("token", ep.token), ("api_key", ep.api_key)):
            field = self._input(key)
            field.value = ""
            saved = ref is not None and ref.value is not None
            field.placeholder = f"{token_text(ref)} saved; type to replace" if saved else "none"
            remove = self.query_one(f"#{key}_remove", FormCheckbox)
            remove.value = False
            remove.display = saved
            self._input(f"{key}_env").value = (ref.env or "") if ref else ""
        self._input("api_key_header").value = ep.api_key_header
        self.query_one("#headers", TextArea).text = "\n".join(
            f"{k}: {v}" for k, v in redact_headers(ep.headers).items()
        )
        self._input("connect_s").value = f"{ep.timeouts.connect_s:g}"
        self._input("read_s").value = f"{ep.timeouts.read_s:g}"
        self._input("total_s").value = f"{ep.timeouts.total_s:g}"
        self.query_one("#allow_insecure_http", FormCheckbox).value = ep.allow_insecure_http
        self._input("metrics_url").value = ep.metrics_url or ""
        self.query_one("#drop_unsupported", FormCheckbox).value = ep.drop_unsupported
        self.query_one("#truncate", Select).value = ep.truncate or "none"
        self.set_profile(ep.custom)
        for name, *_ in ENDPOINT_DEFAULTS:
            self._input(f"e_{name}").value = _shown(getattr(ep.defaults, name))
        self.show_problems([])

    def state(self) -> tuple[Any, ...]:
        """Everything the user can change here, to tell whether there are unsaved edits."""
        values: list[Any] = [w.value for w in self.query(Input)]
        values += [w.value for w in self.query(FormCheckbox)]
        values += [self.query_one("#headers", TextArea).text, self.query_one("#api", Select).value]
        return (*values, self.query_one("#truncate", Select).value, self.profile)

    def set_profile(self, profile: CustomProfile | None) -> None:
        """The custom flavour's profile (shown as a summary; edited in the editor)."""
        self.profile = profile
        self.query_one("#profile-summary", Static).update(profile_summary(profile))
        self._show_profile_row()

    def _show_profile_row(self) -> None:
        custom = self.query_one("#api", Select).value == "custom"
        self.query_one("#profile-row").display = custom
        self.query_one("#profile-summary").display = custom

    @on(Select.Changed, "#api")
    def _api_changed(self, event: Select.Changed) -> None:
        self._show_profile_row()

    @on(Button.Pressed, "#edit_profile")
    def _edit_profile(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.ProfileWanted(self.profile, self._input("name").value.strip()))

    def has_content(self) -> bool:
        """Something to save: a loaded endpoint, or a name or URL typed."""
        return self.base is not None or bool(
            self._input("name").value.strip() or self._input("url").value.strip()
        )

    def show_problems(self, problems: list[str]) -> None:
        errors = self.query_one("#endpoint-errors", Static)
        errors.update(Text("\n".join(problems), style="red"))
        errors.set_class(bool(problems), "-shown")

    @on(Input.Changed, "#token, #api_key")
    def _typed_secret(self, event: Input.Changed) -> None:
        # typing a new token replaces the saved one: "remove" no longer applies
        if event.value:
            self.query_one(f"#{event.input.id}_remove", FormCheckbox).value = False

    # ----------------------------------------------------------------- reading
    def _token_ref(
        self, key: str, existing: TokenRef | None, problems: list[str]
    ) -> TokenRef | None:
        field = self._input(key)
        secret = Secret(field.value.strip()) if field.value.strip() else None
        env = self._input(f"{key}_env").value.strip()
        if secret is not None and env:
            problems.append(f"{key}: give a {key} or an environment variable name, not both")
            return None
        if secret is not None:
            return TokenRef(value=secret)
        if env:
            return TokenRef(env=env)
        if self.query_one(f"#{key}_remove", FormCheckbox).value:
            return None  # the saved literal is taken out
        if existing is not None and existing.value is not None:
            return existing  # empty input: keep the saved literal
        return None

    def _named_profile(self, api: ApiFlavour | None) -> CustomProfile | None:
        if api is not ApiFlavour.CUSTOM or self.profile is None:
            return None  # another flavour: the profile is not kept
        return replace(self.profile, name=self._input("name").value.strip() or "custom")

    def read(self) -> tuple[Endpoint | None, list[str]]:
        """The endpoint the form describes, or the problems (each naming its field)."""
        problems: list[str] = []
        base = self.base or Endpoint(name="", url="")
        api_value = self.query_one("#api", Select).value
        api = None if api_value in ("auto", Select.BLANK) else ApiFlavour(str(api_value))
        truncate = self.query_one("#truncate", Select).value
        token = self._token_ref("token", base.token, problems)
        api_key = self._token_ref("api_key", base.api_key, problems)
        headers, header_problems = parse_headers(
            self.query_one("#headers", TextArea).text, base.headers
        )
        problems += header_problems
        default = TimeoutPolicy()
        seconds = {
            key: parse_number(self._input(key).value, float, f"timeouts.{key}", problems)
            for key in ("connect_s", "read_s", "total_s")
        }
        timeouts = TimeoutPolicy(
            **{k: getattr(default, k) if v is None else v for k, v in seconds.items()}
        )
        own: dict[str, Any] = {
            name: parse_number(self._input(f"e_{name}").value, kind, f"defaults.{name}", problems)
            for name, _, kind, _ in ENDPOINT_DEFAULTS
        }
        endpoint = replace(
            base,
            name=self._input("name").value.strip(),
            url=self._input("url").value.strip(),
            api=api,
            token=token,
            api_key=api_key,
            api_key_header=self._input("api_key_header").value.strip() or "X-API-Key",
            headers=headers,
            timeouts=timeouts,
            allow_insecure_http=self.query_one("#allow_insecure_http", FormCheckbox).value,
            custom=self._named_profile(api),
            drop_unsupported=self.query_one("#drop_unsupported", FormCheckbox).value,
            truncate=None if truncate == "none" else str(truncate),
            defaults=EndpointDefaults(**own),
            metrics_url=self._input("metrics_url").value.strip() or None,
            simulated=False,
        )
        problems += validate_endpoint(endpoint)
        return (None if problems else endpoint), problems
