"""Which models an endpoint has: the one discovery function the picker and
``ometer-tui run`` both use."""

from __future__ import annotations

from collections.abc import Iterable

from ometer_tui.core.api import detect_flavour, open_client
from ometer_tui.core.models import Endpoint, ModelInfo

__all__ = ["DEMO_FAULT_FAMILY", "default_models", "discover_models"]

#: The demo endpoint's models that fail on purpose belong to this family.
DEMO_FAULT_FAMILY = "fault"


async def discover_models(endpoint: Endpoint, *, max_connections: int = 8) -> list[ModelInfo]:
    """The models ``endpoint`` lists, with their metadata (Ollama ``/api/show``), in the
    server's order. Detects the API flavour first when ``endpoint.api`` is ``None``.

    Raises ``ClientError`` (connection refused, timeout, 401...) with the server's reason.
    """
    flavour = endpoint.api or await detect_flavour(endpoint)
    client = open_client(endpoint, flavour=flavour, max_connections=max_connections)
    try:
        return await client.list_models(details=True)
    finally:
        await client.aclose()


def default_models(endpoint: Endpoint, models: Iterable[ModelInfo]) -> list[ModelInfo]:
    """The models a run takes when the user names none: every listed model, except, on
    the simulated demo endpoint, the ones that fail on purpose."""
    return [m for m in models if not (endpoint.simulated and m.family == DEMO_FAULT_FAMILY)]
