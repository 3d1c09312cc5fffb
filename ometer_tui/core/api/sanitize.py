"""Parameter sanitization: which generation parameter a server rejected, and the same
parameters without it. Pure functions (the retry lives in :mod:`.guard`).

A 400 or 422 whose message names a parameter the request sent, beside words that say it
is not accepted ("unsupported", "unknown", "extra inputs are not permitted", "must
be"...), names that parameter. A message that names none of the sent parameters names
nothing: a context-length error is not a parameter problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from ometer_tui.core.models import GenerationParams, ResponseFormat

#: Words that say a named parameter is not accepted.
_REJECTION_HINTS = (
    "unsupported",
    "not supported",
    "does not support",
    "doesn't support",
    "unknown",
    "unrecognized",
    "unrecognised",
    "unexpected",
    "extra input",
    "extra field",
    "extra_forbidden",
    "not permitted",
    "not allowed",
    "forbidden",
    "invalid",
    "not a valid",
    "must be",
    "cannot be",
    "can't be",
    "is not",
)

#: Generation parameters that can be left out of a request.
DROPPABLE: frozenset[str] = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "response_format",
        "max_tokens",
        "keep_alive",
    }
)

#: Wire names of the Ollama flavour that differ from the parameter's name.
OLLAMA_WIRE_NAMES: dict[str, str] = {"num_predict": "max_tokens", "format": "response_format"}


def rejected_parameter(status: int | None, message: str, names: Iterable[str]) -> str | None:
    """The parameter (one of ``names``, as sent on the wire) that a 400/422 with
    ``message`` rejects, or ``None``. When several are named, the first in the message.
    """
    if status not in (400, 422) or not message:
        return None
    text = message.lower()
    if not any(hint in text for hint in _REJECTION_HINTS):
        return None
    best: tuple[int, str] | None = None
    for name in names:
        pattern = rf"(?<![a-z0-9_]){re.escape(name.lower())}(?![a-z0-9_])"
        m = re.search(pattern, text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), name)
    return None if best is None else best[1]


def sent_parameters(params: GenerationParams) -> list[str]:
    """The droppable parameters ``params`` sets (the names a request may carry)."""
    out = []
    for name in sorted(DROPPABLE):
        value = getattr(params, name)
        if name == "response_format":
            if value is not ResponseFormat.TEXT:
                out.append(name)
        elif value not in (None, ()):
            out.append(name)
    return out


def without(params: GenerationParams, names: Iterable[str]) -> GenerationParams:
    """``params`` with each named parameter left out of the request."""
    changes: dict[str, object] = {}
    for name in names:
        if name == "stop":
            changes["stop"] = ()
        elif name == "response_format":
            changes["response_format"] = ResponseFormat.TEXT
            changes["json_schema"] = None
        elif name in DROPPABLE:
            changes[name] = None
    return replace(params, **changes)  # type: ignore[arg-type]


def wire_names(params: GenerationParams, mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Wire name -> parameter name for what ``params`` sends; ``mapping`` gives the wire
    names that differ (a custom profile's template keys, Ollama's ``num_predict``)."""
    sent = set(sent_parameters(params))
    out = {name: name for name in sent}
    for wire, name in (mapping or {}).items():
        if name in sent:
            out[wire] = name
    return out
