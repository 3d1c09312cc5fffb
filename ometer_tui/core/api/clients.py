"""Opening a client for an endpoint, and asking a server which API it speaks.

Imports every flavour's client, so httpx and aiohttp (~0.2-0.4 s); reached through
:mod:`ometer_tui.core.api`, which loads this module on first use of these names.
"""

from __future__ import annotations

from ometer_tui.core.api._http import ExchangeSink
from ometer_tui.core.api.base import ApiClient, ClientError, ErrorKind, RequestError
from ometer_tui.core.api.custom import CustomClient
from ometer_tui.core.api.ollama import OllamaClient
from ometer_tui.core.api.openai import OpenAIClient
from ometer_tui.core.models import ApiFlavour, Endpoint, ServerInfo

__all__ = ["detect_flavour", "open_client", "probe"]


def open_client(
    endpoint: Endpoint,
    *,
    flavour: ApiFlavour | None = None,
    max_connections: int = 64,
    on_exchange: ExchangeSink | None = None,
) -> ApiClient:
    """The client for ``endpoint`` in ``flavour`` (default: ``endpoint.api``).

    Raises ``ValueError`` when neither names a flavour (detect it first with
    :func:`detect_flavour`). A token that cannot be resolved, or that would go over
    plain http to another host, does not raise here: every request then fails with a
    CONFIG error naming the setting.
    """
    chosen = flavour or endpoint.api
    if chosen is None:
        raise ValueError(
            f'endpoint {endpoint.name!r} has no API flavour: set api = "ollama" or '
            f'"openai", or detect it with detect_flavour()'
        )
    if chosen is ApiFlavour.CUSTOM:
        return CustomClient(endpoint, max_connections=max_connections, on_exchange=on_exchange)
    if chosen is ApiFlavour.OLLAMA:
        return OllamaClient(endpoint, max_connections=max_connections, on_exchange=on_exchange)
    return OpenAIClient(endpoint, max_connections=max_connections, on_exchange=on_exchange)


def _why(error: ClientError) -> str:
    return str(error.error)


async def detect_flavour(endpoint: Endpoint) -> ApiFlavour:
    """Which API the server speaks: Ollama when ``/api/version`` and ``/api/tags`` both
    answer, else OpenAI when ``/v1/models`` does; raises :class:`ClientError` otherwise.
    """
    client = OllamaClient(endpoint, max_connections=2)
    try:
        ollama_reason: str
        try:
            version, _, _ = await client.request_json("GET", "/api/version")
            tags, _, _ = await client.request_json("GET", "/api/tags")
        except ClientError as err:
            if err.error.kind in (ErrorKind.CONNECT, ErrorKind.CONFIG, ErrorKind.TIMEOUT):
                raise
            ollama_reason = _why(err)
        else:
            if isinstance(version, dict) and isinstance(tags, dict) and "models" in tags:
                return ApiFlavour.OLLAMA
            ollama_reason = "unexpected answer"
        try:
            models, _, _ = await client.request_json("GET", "/v1/models")
        except ClientError as err:
            openai_reason = _why(err)
        else:
            if isinstance(models, dict) and isinstance(models.get("data"), list):
                return ApiFlavour.OPENAI
            openai_reason = "unexpected answer"
        hint = ""
        if "401" in openai_reason or "403" in openai_reason:
            hint = "; check the endpoint's token / api_key"
        raise ClientError(
            RequestError(
                ErrorKind.PROTOCOL,
                f"could not tell which API {endpoint.display_url} speaks: Ollama "
                f"(/api/version, /api/tags): {ollama_reason}; OpenAI (/v1/models): "
                f"{openai_reason}{hint}",
            )
        )
    finally:
        await client.aclose()


async def probe(endpoint: Endpoint, *, flavour: ApiFlavour | None = None) -> ServerInfo:
    """Detect the flavour when needed, then ask the server about itself.

    Raises :class:`ClientError`.
    """
    chosen = flavour or endpoint.api or await detect_flavour(endpoint)
    client = open_client(endpoint, flavour=chosen, max_connections=4)
    try:
        return await client.server_info()
    finally:
        await client.aclose()
