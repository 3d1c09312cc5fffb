"""The custom API profile form: every field of a :class:`CustomProfile`, editable.

A "Profile" picker fills every field from a built-in profile (``custom`` keeps what the
fields hold); one tab for what the whole API shares (token header, headers, error
pointer, models), one per workload (method, path, response mode, a JSON body template or
multipart fields and a file field, and the JSON pointers into each event).

The form holds text only. :meth:`ProfileForm.read` turns it into the settings table
(the shape ``[endpoints.custom]`` has in the file) and reads that with the core's
:func:`profile_from_table`: the checks are those the settings file gets when it loads,
and each problem names its field (``custom.chat.path: must start with /``); the field
is marked and the first one shown. Nothing typed is cleared by a refusal.

State flows down (:meth:`ProfileForm.load`); the host reads :meth:`ProfileForm.read`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, TabbedContent, TabPane, TextArea

from ometer_tui.core.api.custom_profile import (
    BUILTIN_PROFILES,
    builtin_name,
    profile_from_table,
    profile_to_table,
)
from ometer_tui.core.api_profile import RESPONSE_MODES, ROUTE_WORKLOADS, CustomProfile
from ometer_tui.core.secrets import redact_headers
from ometer_tui.tui.widgets.form import FORM_CSS, field_row, parse_headers

CUSTOM = "custom"
PICKS: list[tuple[str, str]] = [(name, name) for name in BUILTIN_PROFILES] + [
    ("custom (your own)", CUSTOM)
]
METHODS = ("POST", "PUT", "PATCH")
MODES: list[tuple[str, str]] = [
    ("sse: data: events", "sse"),
    ("ndjson: a JSON document per line", "ndjson"),
    ("text: raw text chunks", "text"),
    ("json: one body, not streamed", "json"),
]
assert tuple(m for _, m in MODES) == RESPONSE_MODES

#: (key, label, tooltip) of the profile-wide one-line fields
API_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("token_header", "Token header", "The endpoint's token goes in this header "
     "(empty: Authorization: Bearer)"),
    ("error_pointer", "Error at", "JSON pointer to the error message in any body or "
     "event, HTTP errors too (e.g. /detail)"),
    ("models", "Models", "Fixed list: name=workload, comma separated (a bare name is "
     "chat), e.g. text_model=chat, image_model=vision"),
    ("models_path", "Models path", "Discovery: a GET path listing the models (e.g. /info)"),
    ("models_pointer", "Models at", "JSON pointer to a name or a list of them (empty: "
     "the whole answer)"),
    ("models_name", "Name at", "JSON pointer to the name inside each listed object"),
    ("info_path", "Info path", "A cheap GET for warming connections (empty: the "
     "models path)"),
)  # fmt: skip
#: (key, label) of the pointers into each event
POINTERS: tuple[tuple[str, str], ...] = (
    ("text", "Text"),
    ("reasoning", "Reasoning"),
    ("output_tokens", "Output count"),
    ("input_tokens", "Input count"),
    ("done", "End flag"),
    ("error", "Error"),
    ("embedding", "Embedding"),
)
_ROUTE_INPUTS = ("path", "file_field", "done_marker", *(k for k, _ in POINTERS))


def models_text(models: object) -> str:
    """``{"a": "chat", "b": "vision"}`` -> ``"a=chat, b=vision"``."""
    if not isinstance(models, dict):
        return ""
    return ", ".join(f"{name}={workload}" for name, workload in models.items())


def parse_models(text: str) -> dict[str, str]:
    """``"a=chat, b"`` -> ``{"a": "chat", "b": "chat"}`` (the core checks the workloads)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        name, _, workload = item.partition("=")
        if name.strip():
            out[name.strip()] = workload.strip() or "chat"
    return out


def parse_fields(text: str, key: str, problems: list[str]) -> dict[str, str]:
    """Multipart fields, ``name: template`` per line."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            problems.append(f"{key}: line {number}: expected 'name: template'")
            continue
        out[name.strip()] = value.strip()
    return out


def field_id(problem: str) -> str | None:
    """The id of the field a core problem names: ``custom.chat.path: ...`` ->
    ``chat-path``; ``custom.models.x: ...`` -> ``p-models``; ``custom: no route`` ->
    ``chat-path``."""
    parts = problem.split(":", 1)[0].split(".")
    if parts[0] != "custom":
        return None
    if len(parts) == 1:
        return "chat-path"
    if parts[1] in ROUTE_WORKLOADS:
        return f"{parts[1]}-{parts[2] if len(parts) > 2 else 'path'}"
    return f"p-{parts[1]}"


class ProfileForm(Vertical):
    """Pick a built-in profile or describe your own; every field shown and editable."""

    DEFAULT_CSS = (
        FORM_CSS
        + """
    ProfileForm {
        height: 1fr;
    }
    ProfileForm TabbedContent {
        height: 1fr;
    }
    ProfileForm TabPane {
        padding: 0;
    }
    ProfileForm .form-subtitle {
        height: 1;
        margin-top: 1;
        color: $text-accent;
    }
    ProfileForm TextArea {
        height: auto;
        min-height: 3;
        max-height: 10;
    }
    ProfileForm .-invalid, ProfileForm .field-row > .-invalid {
        background: $error 30%;
    }
    ProfileForm #profile-errors {
        max-height: 6;
        overflow-y: auto;
    }
    """
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: what the form was filled from (sensitive header values shown masked keep it)
        self.base: CustomProfile | None = None

    def compose(self) -> ComposeResult:
        yield field_row(
            "Profile",
            Select(PICKS, id="p-pick", value=CUSTOM, allow_blank=False, compact=True),
            "A built-in profile fills every field below; custom keeps what they hold",
        )
        with TabbedContent(id="p-tabs"):
            with TabPane("API", id="tab-api"), VerticalScroll(can_focus=False):
                for key, label, tooltip in API_FIELDS:
                    yield field_row(label, Input(id=f"p-{key}", compact=True), tooltip)
                yield Label("Headers sent with every request (Name: value per line)",
                            classes="field-label")  # fmt: skip
                yield TextArea(id="p-headers", compact=True, tab_behavior="focus")
            for workload in ROUTE_WORKLOADS:
                with TabPane(workload, id=f"tab-{workload}"), VerticalScroll(can_focus=False):
                    yield from self._route_fields(workload)
        yield Static(id="profile-errors", classes="form-errors errors")

    @staticmethod
    def _route_fields(wl: str) -> ComposeResult:
        yield field_row(
            "Path",
            Input(id=f"{wl}-path", compact=True, placeholder=f"empty: no {wl} route"),
            "Starts with /, e.g. /v1/generate",
        )
        methods = [(m, m) for m in METHODS]
        yield field_row(
            "Method", Select(methods, id=f"{wl}-method", value="POST", allow_blank=False,
                             compact=True),
        )  # fmt: skip
        yield field_row(
            "Response",
            Select(MODES, id=f"{wl}-mode", value="sse", allow_blank=False, compact=True),
            "How the answer arrives",
        )
        yield Label("Body: a JSON template ({model} {prompt} {messages} {max_tokens}...)",
                    classes="field-label")  # fmt: skip
        yield TextArea(id=f"{wl}-body", compact=True, tab_behavior="focus")
        yield Label("Or multipart fields (name: template per line)", classes="field-label")
        yield TextArea(id=f"{wl}-form", compact=True, tab_behavior="focus")
        yield field_row(
            "File field",
            Input(id=f"{wl}-file_field", compact=True),
            "The multipart field that carries the image (vision)",
        )
        yield Static(Text("JSON pointers into each event", style="bold"),
                     classes="form-subtitle")  # fmt: skip
        for key, label in POINTERS:
            yield field_row(label, Input(id=f"{wl}-{key}", compact=True), "e.g. /token/text")
        yield field_row(
            "Done marker",
            Input(id=f"{wl}-done_marker", compact=True),
            "SSE: a data: payload that ends the stream ([DONE] always does)",
        )

    def _input(self, field: str) -> Input:
        return self.query_one(f"#{field}", Input)

    def _area(self, field: str) -> TextArea:
        return self.query_one(f"#{field}", TextArea)

    # ----------------------------------------------------------------- filling
    def load(self, profile: CustomProfile | None) -> None:
        """Show ``profile`` (None: an empty custom profile)."""
        self.base = profile
        table: dict[str, Any] = profile_to_table(profile) if profile else {}
        pick = (builtin_name(profile) if profile else None) or CUSTOM
        with self.prevent(Select.Changed):
            self.query_one("#p-pick", Select).value = pick
        self._fill(table)
        self.show_problems([])

    def _fill(self, table: dict[str, Any]) -> None:
        for key, _, _ in API_FIELDS:
            value = table.get(key)
            self._input(f"p-{key}").value = (
                models_text(value) if key == "models" else str(value or "")
            )
        headers = redact_headers(table.get("headers", {}))
        self._area("p-headers").text = "\n".join(f"{k}: {v}" for k, v in headers.items())
        for wl in ROUTE_WORKLOADS:
            route: dict[str, Any] = table.get(wl, {})
            for key in _ROUTE_INPUTS:
                self._input(f"{wl}-{key}").value = str(route.get(key) or "")
            with self.prevent(Select.Changed):
                self.query_one(f"#{wl}-method", Select).value = route.get("method", "POST")
                self.query_one(f"#{wl}-mode", Select).value = route.get("mode", "sse")
            body = route.get("body")
            self._area(f"{wl}-body").text = (
                json.dumps(json.loads(body), indent=2) if isinstance(body, str) else ""
            )
            form: dict[str, str] = route.get("form", {})
            self._area(f"{wl}-form").text = "\n".join(f"{k}: {v}" for k, v in form.items())

    @on(Select.Changed, "#p-pick")
    def _picked(self, event: Select.Changed) -> None:
        event.stop()
        builtin = BUILTIN_PROFILES.get(str(event.value))
        if builtin is not None:
            self._fill(profile_to_table(builtin))
            self.show_problems([])

    def state(self) -> tuple[Any, ...]:
        """Everything the user can change here, to tell whether there are unsaved edits."""
        values: list[Any] = [w.value for w in self.query(Input)]
        values += [w.value for w in self.query(Select)]
        values += [w.text for w in self.query(TextArea)]
        return tuple(values)

    # ----------------------------------------------------------------- reading
    def table(self, problems: list[str]) -> dict[str, Any]:
        """The settings table the fields describe (empty fields left out)."""
        table: dict[str, Any] = {}
        for key, _, _ in API_FIELDS:
            value = self._input(f"p-{key}").value.strip()
            if value:
                table[key] = parse_models(value) if key == "models" else value
        existing = self.base.headers if self.base else {}
        headers, header_problems = parse_headers(self._area("p-headers").text, existing)
        problems += [f"custom.{p}" for p in header_problems]
        if headers:
            table["headers"] = headers
        for wl in ROUTE_WORKLOADS:
            route: dict[str, Any] = {}
            for key in _ROUTE_INPUTS:
                value = self._input(f"{wl}-{key}").value.strip()
                if value:
                    route[key] = value
            body = self._area(f"{wl}-body").text.strip()
            if body:
                route["body"] = body
            form = parse_fields(self._area(f"{wl}-form").text, f"custom.{wl}.form", problems)
            if form:
                route["form"] = form
            if not route:
                continue  # an empty tab: no route for this workload
            route.setdefault("path", "")  # fields without a path: the core names it
            route["method"] = str(self.query_one(f"#{wl}-method", Select).value)
            route["mode"] = str(self.query_one(f"#{wl}-mode", Select).value)
            table[wl] = route
        return table

    def read(self) -> tuple[CustomProfile | None, list[str]]:
        """The profile the form describes, or the problems, each naming its field; the
        fields named are marked and the first one is shown."""
        problems: list[str] = []
        table = self.table(problems)
        profile, found = profile_from_table(table, "custom")
        problems += found
        self.show_problems(problems)
        return (None if problems else profile), problems

    def show_problems(self, problems: list[str]) -> None:
        errors = self.query_one("#profile-errors", Static)
        errors.update(Text("\n".join(problems), style="red"))
        errors.set_class(bool(problems), "-shown")
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        marked: list[Widget] = []
        for problem in problems:
            wid = field_id(problem)
            found = list(self.query(f"#{wid}")) if wid else []
            for widget in found:
                widget.add_class("-invalid")
                marked.append(widget)
        if marked:
            self.show_field(marked[0])

    def show_field(self, widget: Widget) -> None:
        """Switch to the tab that holds ``widget`` and focus it."""
        for pane in self.query(TabPane):
            if widget in pane.query("*"):
                self.query_one(TabbedContent).active = pane.id or ""
                break
        widget.focus()


def profile_summary(profile: CustomProfile | None) -> Text:
    """One line per route, e.g. ``llm-api · chat POST /text_model/chat/stream (text)``."""
    if profile is None:
        return Text("No profile yet: pick a built-in one or describe the API", style="dim")
    text = Text(builtin_name(profile) or "custom", style="bold")
    for workload, route in profile.routes.items():
        text.append(f"\n{workload} ", style="dim")
        text.append(f"{route.method} {route.path} ({route.mode})")
    return text
