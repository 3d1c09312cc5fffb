"""Custom API profiles: the built-in ones, reading one from a settings table (with every
problem named by its dotted key), writing one back, JSON pointers and body templates.

Pure functions; nothing here sends a request. The profile's types are in
:mod:`ometer_tui.core.api_profile`.

Settings layout (inside an ``[[endpoints]]`` entry with ``api = "custom"``)::

    [endpoints.custom]
    base = "llm-api"                 # optional: start from a built-in profile
    token_header = "X-API-Key"       # the endpoint's token goes in this header
    error_pointer = "/detail"
    models = { text_model = "chat", image_model = "vision" }   # or a list, or:
    models_path = "/info"            # discovery: GET, then
    models_pointer = "/model_id"     # a name or a list of names/objects
    [endpoints.custom.chat]
    path = "/text_model/chat/stream"
    method = "POST"
    body = '{"messages": "{messages}", "temperature": "{temperature}"}'   # or a table
    mode = "text"                    # sse | ndjson | text | json
    text = "/token/text"             # pointers: text reasoning output_tokens
                                     # input_tokens done error embedding
    [endpoints.custom.vision]
    path = "/image_model/chat/stream"
    form = { prompt = "{prompt}", temperature = "{temperature}" }
    file_field = "image"
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

from ometer_tui.core.api_profile import (
    PLACEHOLDERS,
    RESPONSE_MODES,
    ROUTE_WORKLOADS,
    CustomProfile,
    Pointers,
    ResponseMode,
    Route,
)
from ometer_tui.core.secrets import redact_headers

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_METHODS = ("POST", "PUT", "PATCH")
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_POINTER_FIELDS = tuple(f.name for f in fields(Pointers))
_ROUTE_KEYS = frozenset(
    {"path", "method", "body", "form", "file_field", "mode", "done_marker", *_POINTER_FIELDS}
)
_PROFILE_KEYS = frozenset(
    {
        "base",
        "headers",
        "models",
        "models_path",
        "models_pointer",
        "models_name",
        "error_pointer",
        "info_path",
        "token_header",
        *ROUTE_WORKLOADS,
    }
)


# --------------------------------------------------------------------------- pointers


class PointerError(ValueError):
    """A JSON pointer that does not parse (RFC 6901)."""


def parse_pointer(text: str) -> tuple[str, ...]:
    """The reference tokens of an RFC 6901 pointer: ``"/a/b~1c"`` -> ``("a", "b/c")``.

    ``""`` is the whole document. Raises :class:`PointerError`.
    """
    if text == "":
        return ()
    if not text.startswith("/"):
        raise PointerError(f"{text!r} is not a JSON pointer (it must start with /, e.g. /a/b)")
    tokens = []
    for raw in text[1:].split("/"):
        if re.search(r"~(?![01])", raw):
            raise PointerError(f"{text!r}: '~' must be followed by 0 or 1 (~0 is ~, ~1 is /)")
        tokens.append(raw.replace("~1", "/").replace("~0", "~"))
    return tuple(tokens)


_MISSING = object()


def resolve_pointer(document: object, tokens: tuple[str, ...]) -> object:
    """The value at ``tokens`` in ``document``, or ``None`` when it is not there."""
    node: object = document
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token, _MISSING)
        elif isinstance(node, list) and token.isdigit():
            index = int(token)
            node = node[index] if index < len(node) else _MISSING
        else:
            return None
        if node is _MISSING:
            return None
    return node


# --------------------------------------------------------------------------- templates


def template_placeholders(template: object) -> set[str]:
    """Every placeholder name used anywhere in a template (strings, keys excluded)."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m.group(1) for m in _PLACEHOLDER.finditer(template) if m.group(1))
    elif isinstance(template, dict):
        for value in template.values():
            found |= template_placeholders(value)
    elif isinstance(template, list):
        for value in template:
            found |= template_placeholders(value)
    return found


def placeholder_of(text: str) -> str | None:
    """The placeholder name when ``text`` is exactly one placeholder, e.g. ``"{seed}"``."""
    m = _PLACEHOLDER.fullmatch(text)
    return m.group(1) if m and m.group(1) else None


def render_text(template: str, values: Mapping[str, object]) -> str | None:
    """A string template filled in; ``None`` when it is one placeholder without value."""
    name = placeholder_of(template)
    if name is not None:
        value = values.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        value = values.get(m.group(1))
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    return _PLACEHOLDER.sub(sub, template)


def render_template(
    template: object, values: Mapping[str, object]
) -> tuple[object, list[tuple[str, str]]]:
    """(the body, (key, placeholder) for every key filled from a whole placeholder).

    A string that is exactly ``"{name}"`` becomes the value itself (any JSON type); a
    dict entry or list item whose placeholder has no value (``None``) is left out.
    """
    filled: list[tuple[str, str]] = []

    def walk(node: object) -> object:
        if isinstance(node, str):
            name = placeholder_of(node)
            if name is not None:
                return values.get(name)
            return render_text(node, values)
        if isinstance(node, dict):
            out: dict[str, object] = {}
            for key, value in node.items():
                rendered = walk(value)
                if rendered is None and value is not None:
                    continue
                out[key] = rendered
                name = placeholder_of(value) if isinstance(value, str) else None
                if name is not None:
                    filled.append((key, name))
            return out
        if isinstance(node, list):
            items = [walk(v) for v in node]
            return [v for v, raw in zip(items, node, strict=True) if v is not None or raw is None]
        return node

    return walk(template), filled


# --------------------------------------------------------------------------- built-ins

_LLM_API_BODY: dict[str, object] = {
    "messages": "{messages}",
    "temperature": "{temperature}",
    "max_tokens": "{max_tokens}",
    "top_p": "{top_p}",
    "frequency_penalty": "{frequency_penalty}",
    "presence_penalty": "{presence_penalty}",
    "seed": "{seed}",
    "response_format": "{response_format}",
}
_LLM_API_FORM = (("prompt", "{prompt}"), ("temperature", "{temperature}"))


def _llm_api(streamed: bool) -> CustomProfile:
    kind = "stream" if streamed else "completion"
    mode: ResponseMode = "text" if streamed else "json"
    pointers = Pointers() if streamed else Pointers(text="/response", error="/detail")
    return CustomProfile(
        name="llm-api" if streamed else "llm-api-json",
        routes={
            "chat": Route(
                path=f"/text_model/chat/{kind}", body=_LLM_API_BODY, mode=mode, pointers=pointers
            ),
            "vision": Route(
                path=f"/image_model/chat/{kind}",
                form=_LLM_API_FORM,
                file_field="image",
                mode=mode,
                pointers=pointers,
            ),
        },
        models=(("text_model", "chat"), ("image_model", "vision")),
        error_pointer="/detail",
        token_header="X-API-Key",
    )


_TGI_ROUTE = Route(
    path="/generate_stream",
    body={
        "inputs": "{prompt}",
        "parameters": {
            "max_new_tokens": "{max_tokens}",
            "temperature": "{temperature}",
            "top_p": "{top_p}",
            "top_k": "{top_k}",
            "seed": "{seed}",
            "stop": "{stop}",
            "frequency_penalty": "{frequency_penalty}",
            "details": True,
        },
    },
    mode="sse",
    pointers=Pointers(
        text="/token/text",
        output_tokens="/details/generated_tokens",
        done="/generated_text",
        error="/error",
    ),
)

_LLAMACPP_ROUTE = Route(
    path="/completion",
    body={
        "prompt": "{prompt}",
        "n_predict": "{max_tokens}",
        "temperature": "{temperature}",
        "top_p": "{top_p}",
        "top_k": "{top_k}",
        "seed": "{seed}",
        "stop": "{stop}",
        "frequency_penalty": "{frequency_penalty}",
        "presence_penalty": "{presence_penalty}",
        "stream": True,
    },
    mode="sse",
    pointers=Pointers(
        text="/content",
        output_tokens="/tokens_predicted",
        input_tokens="/tokens_evaluated",
        done="/stop",
        error="/error/message",
    ),
)

BUILTIN_PROFILES: dict[str, CustomProfile] = {
    # the FastAPI "LLM API" (issue #14): streamed answers as raw text chunks
    "llm-api": _llm_api(streamed=True),
    # the same API's non-streamed routes ({"response": ...}): e2e and tokens only
    "llm-api-json": _llm_api(streamed=False),
    # Hugging Face text-generation-inference's native API
    "tgi": CustomProfile(
        name="tgi",
        routes={"chat": _TGI_ROUTE, "completion": _TGI_ROUTE},
        models_path="/info",
        models_pointer="/model_id",
        error_pointer="/error",
    ),
    # llama.cpp's own server API (/completion), older than its OpenAI layer
    "llamacpp": CustomProfile(
        name="llamacpp",
        routes={"chat": _LLAMACPP_ROUTE, "completion": _LLAMACPP_ROUTE},
        models_path="/v1/models",
        models_pointer="/data",
        models_name="/id",
        error_pointer="/error/message",
        info_path="/health",
    ),
}


def builtin_profile(name: str) -> CustomProfile | None:
    return BUILTIN_PROFILES.get(name.strip().lower())


def builtin_name(profile: CustomProfile) -> str | None:
    """The built-in profile ``profile`` is, field for field (its name aside), or ``None``."""
    for name, builtin in BUILTIN_PROFILES.items():
        if replace(profile, name=name) == builtin:
            return name
    return None


# --------------------------------------------------------------------------- reading


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_pointer(value: object, key: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{key}: expected a JSON pointer string, got {_shown(value)}")
        return None
    try:
        parse_pointer(value)
    except PointerError as exc:
        problems.append(f"{key}: {exc}")
        return None
    return value


def _check_path(value: object, key: str, problems: list[str]) -> str | None:
    if not isinstance(value, str):
        problems.append(f"{key}: expected a path string, got {_shown(value)}")
        return None
    if not value.startswith("/"):
        problems.append(f"{key}: must start with / (got {_shown(value)})")
        return None
    if any(c.isspace() for c in value):
        problems.append(f"{key}: must not contain spaces")
        return None
    return value


def _check_placeholders(template: object, key: str, problems: list[str]) -> None:
    unknown = sorted(template_placeholders(template) - PLACEHOLDERS.keys())
    if unknown:
        known = ", ".join(sorted(PLACEHOLDERS))
        names = ", ".join("{" + u + "}" for u in unknown)
        problems.append(f"{key}: unknown placeholder {names} (known: {known})")


def _read_route(
    table: object, base: Route | None, key: str, problems: list[str], warnings: list[str]
) -> Route | None:
    if not isinstance(table, Mapping):
        problems.append(f"{key}: expected a table, got {_shown(table)}")
        return None
    before = len(problems)
    for extra in sorted(set(table) - _ROUTE_KEYS):
        warnings.append(f"{key}.{extra}: unknown key, ignored")
    changes: dict[str, Any] = {}
    if "path" in table:
        changes["path"] = _check_path(table["path"], f"{key}.path", problems)
    elif base is None:
        problems.append(f'{key}.path: missing (e.g. path = "/generate")')
    if "method" in table:
        method = table["method"]
        if not isinstance(method, str) or method.upper() not in _METHODS:
            problems.append(
                f"{key}.method: expected one of {', '.join(_METHODS)}, got {_shown(method)}"
            )
        else:
            changes["method"] = method.upper()
    if "mode" in table:
        mode = table["mode"]
        if mode not in RESPONSE_MODES:
            problems.append(
                f"{key}.mode: expected one of {', '.join(RESPONSE_MODES)}, got {_shown(mode)}"
            )
        else:
            changes["mode"] = mode
    if "body" in table and "form" in table:
        problems.append(f"{key}.body: give a JSON body or multipart form fields, not both")
    if "body" in table:
        body = table["body"]
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError as exc:
                problems.append(f"{key}.body: not JSON ({exc})")
                body = None
        if body is not None:
            _check_placeholders(body, f"{key}.body", problems)
        changes["body"] = body
        if "form" not in table:
            changes["form"] = ()
    if "form" in table:
        form = table["form"]
        if not isinstance(form, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in form.items()
        ):
            problems.append(f"{key}.form: expected a table of strings, got {_shown(form)}")
        else:
            _check_placeholders(list(form.values()), f"{key}.form", problems)
            changes["form"] = tuple(form.items())
            if "body" not in table:
                changes["body"] = None
    if "file_field" in table:
        ff = table["file_field"]
        if not isinstance(ff, str) or not ff:
            problems.append(f"{key}.file_field: expected a form field name")
        else:
            changes["file_field"] = ff
    if "done_marker" in table:
        marker = table["done_marker"]
        if not isinstance(marker, str):
            problems.append(f'{key}.done_marker: expected a string ("" for none)')
        else:
            changes["done_marker"] = marker or None
    pointer_changes: dict[str, str | None] = {}
    for name in _POINTER_FIELDS:
        if name in table:
            value = table[name]
            pointer_changes[name] = (
                None if value == "" else _check_pointer(value, f"{key}.{name}", problems)
            )
    if len(problems) > before:
        return None
    route = base if base is not None else Route(path=changes.get("path") or "/")
    pointers = replace(route.pointers, **pointer_changes)
    route = replace(route, **changes, pointers=pointers)
    if route.file_field and not route.form:
        problems.append(f"{key}.file_field: needs form fields (a multipart body), not a body")
        return None
    if (
        route.mode == "json"
        and route.pointers.text is None
        and key.rsplit(".", 1)[-1] != ("embedding")
    ):
        problems.append(f"{key}.text: a json response needs the pointer to the answer text")
        return None
    return route


def _read_models(value: object, key: str, problems: list[str]) -> tuple[tuple[str, str], ...]:
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return tuple((v, "chat") for v in value)
    if isinstance(value, Mapping):
        out = []
        for name, workload in value.items():
            if workload not in ROUTE_WORKLOADS:
                problems.append(
                    f"{key}.{name}: expected one of {', '.join(ROUTE_WORKLOADS)}, got "
                    f"{_shown(workload)}"
                )
            else:
                out.append((str(name), str(workload)))
        return tuple(out)
    problems.append(
        f"{key}: expected a list of names or a table name = workload, got {_shown(value)}"
    )
    return ()


def profile_from_table(
    table: Mapping[str, Any], where: str
) -> tuple[CustomProfile | None, list[str]]:
    """Read a profile from its settings table; ``where`` is the table's dotted key (e.g.
    ``"endpoints.myapi.custom"``; ``""`` for a table of its own). Returns (the profile or
    ``None``, problems), each problem naming its key; unknown keys are problems too (a
    typo must not pass)."""
    problems: list[str] = []
    warnings: list[str] = []
    pre = f"{where}." if where else ""
    if not isinstance(table, Mapping):
        return None, [f"{where or 'the profile'}: expected a table, got {_shown(table)}"]
    for extra in sorted(set(table) - _PROFILE_KEYS):
        problems.append(f"{pre}{extra}: unknown key")
    base: CustomProfile | None = None
    if "base" in table:
        base_name = table["base"]
        base = builtin_profile(base_name) if isinstance(base_name, str) else None
        if base is None:
            problems.append(
                f"{pre}base: expected a built-in profile ({', '.join(BUILTIN_PROFILES)}), "
                f"got {_shown(base_name)}"
            )
            return None, problems
    profile = base or CustomProfile(name="custom")
    changes: dict[str, Any] = {}
    routes = dict(profile.routes)
    for workload in ROUTE_WORKLOADS:
        if workload in table:
            route = _read_route(
                table[workload], routes.get(workload), f"{pre}{workload}", problems, warnings
            )
            if route is not None:
                routes[workload] = route
    changes["routes"] = routes
    if "headers" in table:
        headers = table["headers"]
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and _HEADER_NAME.fullmatch(k) and isinstance(v, str)
            for k, v in headers.items()
        ):
            problems.append(f"{pre}headers: expected a table of header name = string value")
        else:
            changes["headers"] = dict(headers)
    if "models" in table:
        changes["models"] = _read_models(table["models"], f"{pre}models", problems)
    for name in ("models_path", "info_path"):
        if name in table:
            changes[name] = _check_path(table[name], f"{pre}{name}", problems)
    for name in ("models_pointer", "models_name", "error_pointer"):
        if name in table:
            value = _check_pointer(table[name], f"{pre}{name}", problems)
            changes[name] = "" if name == "models_pointer" and value is None else value
    if "token_header" in table:
        th = table["token_header"]
        if th == "":
            changes["token_header"] = None
        elif not isinstance(th, str) or not _HEADER_NAME.fullmatch(th):
            problems.append(f"{pre}token_header: expected a header name, got {_shown(th)}")
        else:
            changes["token_header"] = th
    if problems:
        return None, problems
    profile = replace(profile, name=profile.name if base else "custom", **changes)
    if not profile.routes:
        problems.append(f"{where or 'the profile'}: no route (add a [{pre}chat] table with a path)")
    elif not profile.models and profile.models_path is None:
        problems.append(f"{pre}models: give the model names, or models_path to discover them")
    return (None, problems) if problems else (profile, problems)


# --------------------------------------------------------------------------- writing


def _route_table(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"path": route.path, "method": route.method, "mode": route.mode}
    if route.form:
        out["form"] = dict(route.form)
    elif route.body is not None:
        out["body"] = json.dumps(route.body)
    if route.file_field:
        out["file_field"] = route.file_field
    if route.done_marker:
        out["done_marker"] = route.done_marker
    for name in _POINTER_FIELDS:
        value = getattr(route.pointers, name)
        if value is not None:
            out[name] = value
    return out


def profile_to_table(profile: CustomProfile) -> dict[str, Any]:
    """The settings table of a profile (complete: no ``base``); reads back equal."""
    out: dict[str, Any] = {}
    if profile.headers:
        out["headers"] = dict(profile.headers)
    if profile.models:
        out["models"] = dict(profile.models)
    if profile.models_path is not None:
        out["models_path"] = profile.models_path
        out["models_pointer"] = profile.models_pointer
        if profile.models_name is not None:
            out["models_name"] = profile.models_name
    for name in ("error_pointer", "info_path", "token_header"):
        value = getattr(profile, name)
        if value is not None:
            out[name] = value
    for workload in ROUTE_WORKLOADS:
        route = profile.routes.get(workload)
        if route is not None:
            out[workload] = _route_table(route)
    return out


# --------------------------------------------------------------------------- endpoint keys

#: The ``[[endpoints]]`` keys this feature adds (the settings reader marks them read).
API_OPTION_KEYS = frozenset({"custom", "drop_unsupported", "truncate"})
TRUNCATE_CHOICES = ("start", "middle")


def api_options_from_table(raw: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], list[str]]:
    """The ``Endpoint`` fields from an ``[[endpoints]]`` entry's ``custom`` table,
    ``drop_unsupported`` and ``truncate`` keys; ``prefix`` is the entry's dotted key
    with its dot (``"endpoints[0]."``). Returns (field changes, problems)."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    if "custom" in raw:
        profile, found = profile_from_table(raw["custom"], f"{prefix}custom")
        problems += found
        if profile is not None:
            changes["custom"] = replace(profile, name=str(raw.get("name") or "custom"))
    elif str(raw.get("api", "")).strip().lower() == "custom":
        problems.append(
            f'{prefix}custom: api = "custom" needs a [endpoints.custom] table '
            f'(e.g. base = "llm-api"; built-in: {", ".join(BUILTIN_PROFILES)})'
        )
    if "drop_unsupported" in raw:
        value = raw["drop_unsupported"]
        if not isinstance(value, bool):
            problems.append(
                f"{prefix}drop_unsupported: expected true or false, got {_shown(value)}"
            )
        else:
            changes["drop_unsupported"] = value
    if "truncate" in raw:
        value = raw["truncate"]
        if value not in TRUNCATE_CHOICES:
            problems.append(f'{prefix}truncate: expected "start" or "middle", got {_shown(value)}')
        else:
            changes["truncate"] = value
    return changes, problems


def endpoint_profile_problems(api_is_custom: bool, custom: CustomProfile | None) -> list[str]:
    """What saving an endpoint refuses about its profile, each naming its field
    (``custom.chat.path: ...``): the checks the settings file gets when it loads, run on
    the table the profile is written as. ``api = "custom"`` needs a profile."""
    if custom is None:
        if not api_is_custom:
            return []
        return ['custom: api = "custom" needs a profile (pick a built-in one or describe the API)']
    return profile_from_table(profile_to_table(custom), "custom")[1]


def api_options_to_table(
    custom: CustomProfile | None,
    drop_unsupported: bool,
    truncate: str | None,
    *,
    masked: bool = False,
) -> dict[str, Any]:
    """The keys :func:`api_options_from_table` reads, for the settings writer
    (``masked``: credential-like header values of the profile are masked, for display)."""
    out: dict[str, Any] = {}
    if custom is not None:
        table = profile_to_table(custom)
        if masked and "headers" in table:
            table["headers"] = redact_headers(table["headers"])
        out["custom"] = table
    if drop_unsupported:
        out["drop_unsupported"] = True
    if truncate is not None:
        out["truncate"] = truncate
    return out
