"""Typed model of what ometer-tui talks to: endpoints, models, generation parameters."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from ometer_tui.core.api_profile import CustomProfile
from ometer_tui.core.secrets import Secret, TokenRef, resolve, strip_url_credentials


class ApiFlavour(StrEnum):
    OLLAMA = "ollama"
    OPENAI = "openai"
    CUSTOM = "custom"  # any HTTP API, described by a profile (core/api_profile.py)


class Workload(StrEnum):
    """What kind of request a model is benchmarked with."""

    CHAT = "chat"
    COMPLETION = "completion"
    EMBEDDING = "embedding"
    VISION = "vision"


@dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    """Seconds. ``read_s`` is the longest silence allowed between two chunks."""

    connect_s: float = 10.0
    read_s: float = 60.0
    total_s: float = 600.0


@dataclass(frozen=True, slots=True)
class EndpointDefaults:
    """Per-endpoint starting values for a plan (``None``: use the global default)."""

    passes: int | None = None
    warmup: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    concurrency: int | None = None
    timeout_s: float | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A server to benchmark.

    ``api`` is ``None`` when the flavour is to be auto-detected. ``token`` is sent as
    ``Authorization: Bearer``; ``api_key`` is sent in ``api_key_header`` (e.g.
    ``X-API-Key``); either, both or neither may be set.
    """

    name: str
    url: str
    api: ApiFlavour | None = None
    token: TokenRef | None = None
    api_key: TokenRef | None = None
    api_key_header: str = "X-API-Key"
    headers: dict[str, str] = field(default_factory=dict)
    timeouts: TimeoutPolicy = field(default_factory=TimeoutPolicy)
    defaults: EndpointDefaults = field(default_factory=EndpointDefaults)
    allow_insecure_http: bool = False
    simulated: bool = False
    #: the custom flavour's profile (``api = "custom"``)
    custom: CustomProfile | None = None
    #: a generation parameter the server rejects (400/422 naming it) is dropped and the
    #: request sent once more without it, recorded per run
    drop_unsupported: bool = False
    #: a prompt longer than the context window: ``None`` refuses it; "start"/"middle"
    #: cuts that part out so it fits
    truncate: str | None = None
    #: a Prometheus ``/metrics`` served apart from ``url`` (telemetry; ``None``: ``url``'s)
    metrics_url: str | None = None

    @property
    def base_url(self) -> str:
        """The server's root. A URL ending in ``/v1`` (how OpenAI SDKs take a base URL,
        e.g. ``https://api.groq.com/openai/v1``) is accepted: the clients add ``/v1/...``
        and ``/api/...`` themselves."""
        url = self.url.strip().rstrip("/")
        return url[:-3] if url.endswith("/v1") else url

    @property
    def display_url(self) -> str:
        """The URL as the user gave it, without credentials: safe to show, log, export."""
        return strip_url_credentials(self.url.strip().rstrip("/"))

    @property
    def origin(self) -> tuple[str, str, int]:
        parts = urlsplit(self.base_url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return scheme, (parts.hostname or "").lower(), port

    @property
    def is_loopback(self) -> bool:
        host = self.origin[1]
        if host == "localhost" or host.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:  # a name, e.g. "127.example.com", is not loopback
            return False

    def resolve_auth(self) -> tuple[Secret | None, Secret | None]:
        """(bearer token, api key) as secrets; raises ``SecretResolutionError``."""
        return (
            resolve(self.token, what=f"endpoint {self.name!r} token"),
            resolve(self.api_key, what=f"endpoint {self.name!r} api_key"),
        )


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model as the server describes it. Unknown fields stay ``None``."""

    name: str
    size_bytes: int | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    family: str | None = None
    capabilities: tuple[str, ...] = ()
    modified_at: str | None = None  # ISO 8601 as the server gave it
    owned_by: str | None = None

    @property
    def workload(self) -> Workload:
        caps = set(self.capabilities)
        if "embedding" in caps and "completion" not in caps:
            return Workload.EMBEDDING
        if "vision" in caps:
            return Workload.VISION
        return Workload.CHAT

    @property
    def thinks(self) -> bool:
        return "thinking" in self.capabilities


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What an endpoint said about itself when probed."""

    flavour: ApiFlavour
    version: str | None = None
    model_count: int | None = None
    backend: str | None = None  # e.g. the Server header
    loaded_models: tuple[str, ...] = ()


class ResponseFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    JSON_SCHEMA = "json_schema"


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling parameters passed through where the flavour has them (``None``: omit)."""

    max_tokens: int | None = 128
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: ResponseFormat = ResponseFormat.TEXT
    json_schema: dict[str, object] | None = None
    keep_alive: str | None = None  # Ollama only, e.g. "5m"
    #: llama.cpp and vLLM: generate at least this many tokens / ignore end-of-sequence,
    #: so an answer reaches the length asked for (sent only when set)
    min_tokens: int | None = None
    ignore_eos: bool | None = None
