"""What a custom HTTP API looks like: the typed profile of the ``custom`` flavour.

Pure data (no imports from the rest of the package) so that :class:`~ometer_tui.core.
models.Endpoint` can carry a profile. Reading a profile from settings, checking it and
the built-in profiles live in :mod:`ometer_tui.core.api.custom_profile`; the client that
speaks it is :mod:`ometer_tui.core.api.custom`.

A route says, for one workload, how to send a request and how to read its answer:

* ``body``: a JSON template (a decoded JSON value). A string that is exactly one
  placeholder, ``"{max_tokens}"``, becomes the typed value (a number, a list of
  messages...); a key whose placeholder has no value (a parameter not set) is left out.
  Placeholders inside longer strings are replaced by their text.
* ``form``: multipart form fields instead of a JSON body (values are templates), and
  ``file_field``: the form field that carries the image file.
* ``mode``: ``sse`` (``data:`` events), ``ndjson`` (one JSON document per line),
  ``text`` (raw text chunks: each chunk is generated text) or ``json`` (one JSON body,
  not streamed).
* ``pointers``: RFC 6901 JSON pointers into each event (or the one body) for the token
  text, the reasoning text, the output/input token counts, the end flag and the error
  message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ResponseMode = Literal["sse", "ndjson", "text", "json"]
RESPONSE_MODES: tuple[ResponseMode, ...] = ("sse", "ndjson", "text", "json")

#: The workloads a profile can route (``Workload`` values).
ROUTE_WORKLOADS: tuple[str, ...] = ("chat", "completion", "vision", "embedding")

#: Placeholders a body or form template may use, and what they hold.
PLACEHOLDERS: dict[str, str] = {
    "model": "the model name",
    "prompt": "the prompt text (with the system prompt in front, if any)",
    "messages": 'the chat messages: [{"role": "user", "content": prompt}]',
    "system": "the system prompt",
    "max_tokens": "the most tokens to generate",
    "temperature": "sampling temperature",
    "top_p": "nucleus sampling",
    "top_k": "top-k sampling",
    "seed": "sampling seed",
    "stop": "stop sequences (a list)",
    "frequency_penalty": "frequency penalty",
    "presence_penalty": "presence penalty",
    "response_format": 'OpenAI-style response_format ({"type": "json_object"})',
    "image_b64": "the first image, base64",
    "image_data_url": "the first image as a data: URL",
    "images_b64": "every image, base64 (a list)",
    "input": "embedding inputs (a list of strings)",
}

#: Placeholders that carry a generation parameter: the ones that may be dropped when a
#: server rejects them (see :mod:`ometer_tui.core.api.sanitize`).
PARAMETER_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "frequency_penalty",
        "presence_penalty",
        "response_format",
    }
)


@dataclass(frozen=True, slots=True)
class Pointers:
    """RFC 6901 JSON pointers into each event (``None``: not present in this API)."""

    text: str | None = None
    reasoning: str | None = None
    output_tokens: str | None = None
    input_tokens: str | None = None
    #: the event that ends the stream: the pointer's value is truthy (``true``, a
    #: non-empty string or object...)
    done: str | None = None
    error: str | None = None
    #: embeddings: the vector (or the list of vectors) in the answer
    embedding: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """How one workload is sent and read."""

    path: str
    method: str = "POST"
    body: object = None  # a JSON template; None with ``form``
    form: tuple[tuple[str, str], ...] = ()  # multipart fields (name, template)
    file_field: str | None = None  # the multipart field that carries the image
    mode: ResponseMode = "sse"
    pointers: Pointers = field(default_factory=Pointers)
    #: SSE: a ``data:`` payload the stream must end with (``[DONE]`` is always taken as
    #: the end; ``None``: a clean end of the body, or the ``done`` pointer, ends it)
    done_marker: str | None = None


@dataclass(frozen=True, slots=True)
class CustomProfile:
    """A custom HTTP API: routes per workload, headers, models and error messages."""

    name: str
    routes: dict[str, Route] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: the model list when the API has no discovery call: (name, workload) pairs
    models: tuple[tuple[str, str], ...] = ()
    #: discovery: a GET path, and the pointer to a model name or a list of them (items
    #: may be objects: ``models_name`` points at the name inside each)
    models_path: str | None = None
    models_pointer: str = ""
    models_name: str | None = None
    #: where an error body (any status) keeps its message, e.g. FastAPI's ``/detail``
    error_pointer: str | None = None
    #: a cheap GET for pool warming and server info (``None``: the discovery path)
    info_path: str | None = None
    #: the endpoint's token is sent as this header (instead of ``Authorization:
    #: Bearer``), e.g. ``X-API-Key`` for the FastAPI LLM API
    token_header: str | None = None
