"""Clients for the two API flavours behind one small interface (see :mod:`.base`).

* :func:`open_client` makes the client for an endpoint (sync; nothing is sent yet).
* :func:`detect_flavour` asks the server which API it speaks.
* :func:`probe` detects when needed and returns what the server says about itself.

Importing the package imports none of its modules: each name below loads its module on
first use (:data:`_LAZY`). So a light module of it (``base``, ``custom_profile``,
``guard``) can be imported alone, and ``--help``, the argument parsers and the TUI's
first screen do not pay for the clients, and with them httpx and aiohttp (~0.2-0.4 s;
see ``tests/unit/test_startup_imports.py``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ometer_tui.core.api.base import (
        ApiClient,
        ClientError,
        EmbeddingObservation,
        ErrorKind,
        ExchangeLogged,
        GenerationObservation,
        GenerationRequest,
        ImageInput,
        RequestError,
    )
    from ometer_tui.core.api.clients import detect_flavour, open_client, probe
    from ometer_tui.core.api.custom import CustomClient
    from ometer_tui.core.api.guard import GuardedClient
    from ometer_tui.core.api.ollama import OllamaClient
    from ometer_tui.core.api.openai import OpenAIClient

__all__ = [
    "ApiClient",
    "ClientError",
    "CustomClient",
    "EmbeddingObservation",
    "ErrorKind",
    "ExchangeLogged",
    "GenerationObservation",
    "GenerationRequest",
    "GuardedClient",
    "ImageInput",
    "OllamaClient",
    "OpenAIClient",
    "RequestError",
    "detect_flavour",
    "open_client",
    "probe",
]

_BASE = "ometer_tui.core.api.base"
#: every name of the package, loaded on first use, and the module each comes from
_LAZY = {
    "ApiClient": _BASE,
    "ClientError": _BASE,
    "EmbeddingObservation": _BASE,
    "ErrorKind": _BASE,
    "ExchangeLogged": _BASE,
    "GenerationObservation": _BASE,
    "GenerationRequest": _BASE,
    "ImageInput": _BASE,
    "RequestError": _BASE,
    "CustomClient": "ometer_tui.core.api.custom",
    "GuardedClient": "ometer_tui.core.api.guard",
    "OllamaClient": "ometer_tui.core.api.ollama",
    "OpenAIClient": "ometer_tui.core.api.openai",
    "detect_flavour": "ometer_tui.core.api.clients",
    "open_client": "ometer_tui.core.api.clients",
    "probe": "ometer_tui.core.api.clients",
}


def __getattr__(name: str) -> object:
    """A name of :data:`_LAZY`, imported now and kept (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
