"""The custom flavour: any HTTP API described by a profile (``core/api_profile.py``).

Same machinery as the two native flavours (pooled transport, arrival stamps taken when
a chunk's bytes reached the socket, the same splitters, errors and caps). What differs
is read from the profile: where to send each workload, the body template, and where the
token text, usage, end flag and error sit in each event.

Timing stays honest per response mode:

* ``sse`` / ``ndjson``: TTFT is the first event whose text pointer holds text;
* ``text``: every read carrying text is a token chunk; the output count is the number
  of such chunks (``tokens_source = "chunks"``, an estimate) unless a usage pointer
  gives the server's count;
* ``json``: one whole body: ``not_streamed`` is set, there is no TTFT (never e2e), the
  text and usage come from the body.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import uuid
from dataclasses import replace
from functools import lru_cache
from typing import Any

import httpx

from ometer_tui.core.api._consume import event_json
from ometer_tui.core.api._http import MAX_BODY_BYTES, HttpClient, TokenSink, arrival_clock
from ometer_tui.core.api.base import (
    ClientError,
    EmbeddingObservation,
    ErrorKind,
    GenerationObservation,
    GenerationRequest,
    RequestError,
    conversation_text,
    history_messages,
)
from ometer_tui.core.api.custom_profile import (
    parse_pointer,
    placeholder_of,
    render_template,
    render_text,
    resolve_pointer,
)
from ometer_tui.core.api.errors import message_from_json, short
from ometer_tui.core.api.stream import NdjsonSplitter, SseSplitter, StreamTooLarge
from ometer_tui.core.api_profile import CustomProfile, Route
from ometer_tui.core.models import (
    ApiFlavour,
    Endpoint,
    ModelInfo,
    ResponseFormat,
    ServerInfo,
    Workload,
)
from ometer_tui.core.numbers import whole_number
from ometer_tui.core.secrets import WireHeaders

_CAPABILITIES = {
    "chat": ("completion",),
    "completion": ("completion",),
    "vision": ("completion", "vision"),
    "embedding": ("embedding",),
}


@lru_cache(maxsize=256)
def _tokens(pointer: str | None) -> tuple[str, ...] | None:
    return None if pointer is None else parse_pointer(pointer)


def _at(document: object, pointer: str | None) -> object:
    tokens = _tokens(pointer)
    return None if tokens is None else resolve_pointer(document, tokens)


def _done(value: object) -> bool:
    """An end flag: present and neither null nor false (``"stop": false`` is not done)."""
    return value is not None and value is not False


def request_values(request: GenerationRequest) -> dict[str, object]:
    """The placeholder values of one generation request (``None``: not set)."""
    p = request.params
    text = conversation_text(request)  # a multi-turn conversation as one text
    prompt = f"{request.system}\n\n{text}" if request.system else text
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    messages.extend(history_messages(request))  # ... or as its turns' messages
    messages.append({"role": "user", "content": request.prompt})
    response_format: object = None
    if p.response_format is ResponseFormat.JSON:
        response_format = {"type": "json_object"}
    elif p.response_format is ResponseFormat.JSON_SCHEMA and p.json_schema:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": p.json_schema},
        }
    images = [base64.b64encode(i.data).decode("ascii") for i in request.images]
    first = request.images[0] if request.images else None
    return {
        "model": request.model,
        "prompt": prompt,
        "messages": messages,
        "system": request.system,
        "max_tokens": p.max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "top_k": p.top_k,
        "seed": p.seed,
        "stop": list(p.stop) or None,
        "frequency_penalty": p.frequency_penalty,
        "presence_penalty": p.presence_penalty,
        "response_format": response_format,
        "image_b64": images[0] if images else None,
        "image_data_url": (
            f"data:{first.mime_type};base64,{images[0]}" if first is not None else None
        ),
        "images_b64": images or None,
        "input": [request.prompt],
    }


def multipart_body(
    fields: list[tuple[str, str]], files: list[tuple[str, str, str, bytes]]
) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request.

    ``files``: (field, file name, MIME type, data).
    """
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, filename, mime, data in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


class CustomClient(HttpClient):
    """An HTTP API described by ``endpoint.custom`` (a :class:`CustomProfile`)."""

    flavour = ApiFlavour.CUSTOM

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        max_connections: int = 64,
        on_exchange: Any = None,
    ) -> None:
        super().__init__(endpoint, max_connections=max_connections, on_exchange=on_exchange)
        profile = endpoint.custom
        if profile is None:
            profile = CustomProfile(name="custom")
            if self._config_error is None:
                self._config_error = RequestError(
                    ErrorKind.CONFIG,
                    f'endpoint {endpoint.name!r}: api = "custom" needs a profile '
                    "([endpoints.custom] in the settings, or --api PROFILE)",
                )
        self.profile = profile
        for name, value in profile.headers.items():
            self._http.headers[name] = value
        # the cheap GET that warms the pool
        self.probe_path = profile.info_path or profile.models_path or "/"  # type: ignore[misc]

    # -- plumbing -----------------------------------------------------------------------

    def _auth_headers(self, extra: dict[str, str] | None = None) -> WireHeaders:
        header = self.profile.token_header
        if header is None or self._token is None:
            return super()._auth_headers(extra)
        headers = WireHeaders(extra)
        headers[header] = self._token.reveal()
        if self._api_key:
            headers[self.endpoint.api_key_header] = self._api_key.reveal()
        return headers

    def http_error(self, response: httpx.Response, body: bytes) -> RequestError:
        """A 4xx/5xx answer: the message at the profile's error pointer when it finds one
        in the JSON body (``{"err": {"text": "bad prompt"}}`` with ``error_pointer =
        "/err/text"``), else the common reading (``detail``, ``error``, ``message``; a
        FastAPI list of validation errors)."""
        error = super().http_error(response, body)
        found: object = None
        if self.profile.error_pointer is not None:
            with contextlib.suppress(ValueError):
                found = _at(json.loads(body), self.profile.error_pointer)
        if isinstance(found, dict):  # an object there: its message, read the common way
            found = message_from_json(found)
        if not isinstance(found, str) or not found.strip():
            return error
        return replace(error, message=self.redact(short(found)))

    def route_for(self, workload: Workload) -> Route | None:
        routes = self.profile.routes
        route = routes.get(workload.value)
        if route is None and workload in (Workload.CHAT, Workload.COMPLETION):
            route = routes.get("completion" if workload is Workload.CHAT else "chat")
        return route

    def build(
        self, request: GenerationRequest, route: Route
    ) -> tuple[object, bytes, str, dict[str, str]]:
        """(payload for the log, body, content type, wire name -> parameter name)."""
        values = request_values(request)
        params: dict[str, str] = {}
        if route.form:
            fields: list[tuple[str, str]] = []
            for name, template in route.form:
                text = render_text(template, values)
                if text is None:
                    continue
                fields.append((name, text))
                whole = placeholder_of(template)
                if whole is not None:
                    params[name] = whole
            files: list[tuple[str, str, str, bytes]] = []
            if route.file_field and request.images:
                image = request.images[0]
                ext = image.mime_type.rsplit("/", 1)[-1]
                files.append((route.file_field, f"image.{ext}", image.mime_type, image.data))
            body, ctype = multipart_body(fields, files)
            shown: dict[str, object] = dict(fields)
            for name, filename, _, data in files:
                shown[name] = f"<{filename}: {len(data)} bytes>"
            return shown, body, ctype, params
        payload, filled = render_template(route.body, values)
        params = {key: name for key, name in filled}
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return payload, raw, "application/json", params

    def parameter_names(self, request: GenerationRequest) -> dict[str, str]:
        """Wire name -> generation parameter, for the parameters this request sends."""
        route = self.route_for(request.workload)
        if route is None:
            return {}
        return self.build(request, route)[3]

    # -- discovery ----------------------------------------------------------------------

    async def list_models(self, *, details: bool = True) -> list[ModelInfo]:
        profile = self.profile
        if profile.models_path is None:
            if self._config_error is not None:
                raise ClientError(self._config_error)
            return [
                ModelInfo(name=name, capabilities=_CAPABILITIES.get(workload, ("completion",)))
                for name, workload in profile.models
            ]
        decoded, _, _ = await self.request_json("GET", profile.models_path)
        found = _at(decoded, profile.models_pointer)
        items = found if isinstance(found, list) else [found]
        names: list[str] = []
        for item in items:
            name = _at(item, profile.models_name) if profile.models_name else item
            if isinstance(item, dict) and name is None:
                name = item.get("id") or item.get("name")
            if isinstance(name, str) and name:
                names.append(name)
        if not names:
            raise ClientError(
                RequestError(
                    ErrorKind.PROTOCOL,
                    f"GET {profile.models_path}: no model name at "
                    f"{profile.models_pointer or '(the whole answer)'}",
                )
            )
        caps = ("embedding",) if set(profile.routes) == {"embedding"} else ("completion",)
        listed = {n for n, _ in profile.models}
        out = [ModelInfo(name=n, capabilities=caps) for n in names if n not in listed]
        out += [ModelInfo(name=n, capabilities=_CAPABILITIES[w]) for n, w in profile.models]
        return out

    async def server_info(self) -> ServerInfo:
        if self._config_error is not None:
            raise ClientError(self._config_error)
        backend: str | None = None
        if self.profile.info_path is not None or self.profile.models_path is None:
            path = self.profile.info_path or "/"
            try:
                _, headers, _ = await self.request_json("GET", path)
                backend = headers.get("server")
            except ClientError as err:
                # any answer at all says the server is there; only no answer is fatal
                if err.error.kind in (ErrorKind.CONNECT, ErrorKind.TIMEOUT, ErrorKind.CONFIG):
                    raise
        models = await self.list_models()
        return ServerInfo(
            flavour=self.flavour,
            version=self.profile.name,
            model_count=len(models),
            backend=backend,
        )

    # -- generation ---------------------------------------------------------------------

    async def generate(self, request: GenerationRequest) -> GenerationObservation:
        route = self.route_for(request.workload)
        if route is None:
            obs = GenerationObservation()
            obs.error = RequestError(
                ErrorKind.CONFIG,
                f"profile {self.profile.name!r} has no {request.workload.value} route",
            )
            return obs
        payload, body, ctype, _ = self.build(request, route)

        async def consume(response: httpx.Response, sink: TokenSink) -> None:
            await self._consume(response, sink, route)

        return await self._stream(
            route.path,
            payload if isinstance(payload, dict) else {"body": payload},
            GenerationObservation(),
            request.keep_text_chars,
            consume,
            request.model,
            method=route.method,
            body=body,
            content_type=ctype,
        )

    async def _consume(self, response: httpx.Response, sink: TokenSink, route: Route) -> None:
        if route.mode == "json":
            await self._whole(response, sink, route)
            return
        obs = sink.obs
        arrived = arrival_clock(response)
        received = 0
        max_bytes = self.max_stream_bytes
        splitter: SseSplitter | NdjsonSplitter | None = None
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        ctype = response.headers.get("content-type", "").lower()
        if route.mode == "text" and "application/json" in ctype:
            # a raw text route answered with one JSON body: an error object, or not a stream
            await self._whole(response, sink, route, expected="a text stream")
            return
        if route.mode == "sse":
            splitter = SseSplitter()
        elif route.mode == "ndjson":
            splitter = NdjsonSplitter()
        marker = route.done_marker.encode() if route.done_marker else None
        now = 0
        stop = False
        events = 0
        head = bytearray()  # the start of the body, while no event has come
        try:
            async for chunk in response.aiter_bytes():
                now = arrived()
                if obs.first_byte_ns is None:
                    obs.first_byte_ns = now
                received += len(chunk)
                if (
                    received > max_bytes or obs.token_chunks > self.max_token_chunks
                ) and self.over_cap(obs, received):
                    return
                self.capture(sink, chunk)
                if splitter is None:
                    text = decoder.decode(chunk)
                    if text:
                        sink.token(now, text, None)
                    continue
                if not events and len(head) < 65536:
                    head += chunk
                for item in splitter.feed(chunk):
                    events += 1
                    if self._event(item, now, sink, route, marker):
                        stop = True
                        break
                if stop:
                    break
            if splitter is None:
                tail = decoder.decode(b"", final=True)
                if tail:
                    sink.token(now or arrived(), tail, None)
                obs.done = True  # a raw body that ended cleanly is complete
            elif not stop:
                for item in splitter.close():
                    events += 1
                    if self._event(item, now, sink, route, marker):
                        break
        except StreamTooLarge as exc:
            obs.error = RequestError(ErrorKind.TOO_LARGE, str(exc), before_first_byte=False)
            return
        if obs.error is not None and obs.error.kind is ErrorKind.STREAM:
            return
        if splitter is not None and head and events == 0:
            self._not_events(bytes(head), obs, route)
            return
        if not obs.done:
            if route.pointers.done is None and marker is None and obs.error is None:
                obs.done = True  # nothing marks the end: a clean end of body is the end
            else:
                self.incomplete(obs, "its end flag")

    def _not_events(self, head: bytes, obs: GenerationObservation, route: Route) -> None:
        """Bytes came but not one event: an error object, or not the stream expected."""
        message: object = None
        with contextlib.suppress(ValueError):
            message = _at(json.loads(head), route.pointers.error or self.profile.error_pointer)
        if isinstance(message, str) and message:
            obs.error = RequestError(
                ErrorKind.STREAM, self.redact(short(message)), before_first_byte=False
            )
            return
        excerpt = short(head[:200].decode("utf-8", "replace"), 120)
        what = "an SSE stream (data: events)" if route.mode == "sse" else "NDJSON lines"
        obs.error = RequestError(
            ErrorKind.PROTOCOL,
            self.redact(f"expected {what}, got {excerpt!r}"),
            before_first_byte=False,
        )

    def _event(
        self, item: object, now: int, sink: TokenSink, route: Route, marker: bytes | None
    ) -> bool:
        """One SSE event or NDJSON line; True stops reading."""
        if isinstance(item, tuple):  # SseEvent
            event, data = item
        else:
            event, data = None, item
        assert isinstance(data, bytes)
        # an OpenAI-style [DONE] always ends a stream, as does the route's own marker
        obj, stop = event_json(self, sink, event, data, marker)
        if stop is not None:
            return stop
        return self._apply(obj, now, sink, route, event == b"error")

    def _apply(
        self, obj: object, now: int, sink: TokenSink, route: Route, error_event: bool = False
    ) -> bool:
        obs = sink.obs
        ptr = route.pointers
        message = _at(obj, ptr.error or self.profile.error_pointer)
        if error_event or (message is not None and message is not False):
            text = message if isinstance(message, str) else json.dumps(message or obj)
            obs.error = RequestError(
                ErrorKind.STREAM, self.redact(short(text)), before_first_byte=False
            )
            return True
        content = _at(obj, ptr.text)
        reasoning = _at(obj, ptr.reasoning)
        content_s = content if isinstance(content, str) and content else None
        reasoning_s = reasoning if isinstance(reasoning, str) and reasoning else None
        if content_s or reasoning_s:
            sink.token(now, content_s, reasoning_s)
        out = whole_number(_at(obj, ptr.output_tokens))
        if out is not None:
            obs.output_tokens = out
        inp = whole_number(_at(obj, ptr.input_tokens))
        if inp is not None:
            obs.prompt_tokens = inp
        if ptr.done is not None and _done(_at(obj, ptr.done)):
            obs.done = True
        return False

    async def _whole(
        self,
        response: httpx.Response,
        sink: TokenSink,
        route: Route,
        expected: str | None = None,
    ) -> None:
        """One JSON body: output and usage without timing (not streamed)."""
        obs = sink.obs
        arrived = arrival_clock(response)
        buf = bytearray()
        now = 0
        async for chunk in response.aiter_bytes():
            now = arrived()
            if obs.first_byte_ns is None:
                obs.first_byte_ns = now
            buf += chunk
            if len(buf) > MAX_BODY_BYTES:
                obs.error = RequestError(
                    ErrorKind.TOO_LARGE,
                    f"response larger than {MAX_BODY_BYTES} bytes",
                    before_first_byte=False,
                )
                return
        self.capture(sink, bytes(buf))
        try:
            decoded = json.loads(buf)
        except ValueError:
            excerpt = short(bytes(buf[:200]).decode("utf-8", "replace"), 120)
            obs.error = RequestError(
                ErrorKind.PROTOCOL,
                self.redact(f"expected a JSON body, got {excerpt!r}"),
                before_first_byte=not buf,
            )
            return
        if expected is not None:
            message = _at(decoded, route.pointers.error or self.profile.error_pointer)
            found = message if isinstance(message, str) else short(json.dumps(decoded), 120)
            obs.error = RequestError(
                ErrorKind.STREAM if message else ErrorKind.PROTOCOL,
                self.redact(found if message else f"expected {expected}, got JSON: {found}"),
                before_first_byte=False,
            )
            return
        ptr = route.pointers
        message = _at(decoded, ptr.error or self.profile.error_pointer)
        if message is not None and message is not False:
            text = message if isinstance(message, str) else json.dumps(message)
            obs.error = RequestError(
                ErrorKind.STREAM, self.redact(short(text)), before_first_byte=False
            )
            return
        obs.not_streamed = True
        obs.done = True
        content = _at(decoded, ptr.text)
        reasoning = _at(decoded, ptr.reasoning)
        if (isinstance(content, str) and content) or (isinstance(reasoning, str) and reasoning):
            obs.last_token_ns = now
            if isinstance(content, str) and content:
                sink.parts.append(content[: sink.keep])
            if isinstance(reasoning, str):
                obs.reasoning_chars += len(reasoning)
        elif content is None and reasoning is None:
            obs.error = RequestError(
                ErrorKind.PROTOCOL,
                self.redact(f"no answer text at {ptr.text}: {short(json.dumps(decoded), 120)}"),
                before_first_byte=False,
            )
            return
        out = whole_number(_at(decoded, ptr.output_tokens))
        if out is not None:
            obs.output_tokens = out
        inp = whole_number(_at(decoded, ptr.input_tokens))
        if inp is not None:
            obs.prompt_tokens = inp

    # -- embeddings ---------------------------------------------------------------------

    async def embed(self, model: str, inputs: list[str]) -> EmbeddingObservation:
        route = self.profile.routes.get("embedding")
        if route is None:
            obs = EmbeddingObservation()
            obs.error = RequestError(
                ErrorKind.CONFIG, f"profile {self.profile.name!r} has no embedding route"
            )
            return obs
        payload, _ = render_template(
            route.body, {"model": model, "input": inputs, "prompt": inputs[0] if inputs else ""}
        )
        ptr = route.pointers

        def parse(decoded: Any, obs: EmbeddingObservation) -> None:
            found = _at(decoded, ptr.embedding)
            if not isinstance(found, list) or not found:
                raise ValueError(f"no embedding at {ptr.embedding}")
            vectors = found if isinstance(found[0], list) else [found]
            obs.vectors = len(vectors)
            obs.dimensions = len(vectors[0])
            obs.input_tokens = whole_number(_at(decoded, ptr.input_tokens))

        return await self._embed(
            route.path, payload if isinstance(payload, dict) else {}, model, parse
        )
