"""The one model discovery function (picker and headless), against the demo endpoint."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from ometer_tui.core.api.base import ClientError, ErrorKind
from ometer_tui.core.discovery import default_models, discover_models
from ometer_tui.core.models import ApiFlavour, Endpoint
from ometer_tui.demo.catalogue import CATALOGUE
from ometer_tui.demo.server import DemoServerThread


@pytest.mark.parametrize("api", [None, ApiFlavour.OLLAMA, ApiFlavour.OPENAI])
async def test_discovery_lists_every_model_detecting_the_flavour(
    demo: DemoServerThread, api: ApiFlavour | None
) -> None:
    endpoint = Endpoint(name="demo", url=demo.url, api=api, simulated=True)
    models = await discover_models(endpoint)
    assert {m.name for m in models} >= {m.name for m in CATALOGUE if ":" in m.name}
    by_name = {m.name: m for m in models}
    if api is not ApiFlavour.OPENAI:  # Ollama lists metadata
        assert by_name["demo-embed:335m"].capabilities == ("embedding",)


async def test_default_models_leave_out_the_demo_s_faults_only_on_the_demo(
    demo: DemoServerThread,
) -> None:
    endpoint = Endpoint(name="demo", url=demo.url, api=ApiFlavour.OLLAMA, simulated=True)
    models = await discover_models(endpoint)
    chosen = default_models(endpoint, models)
    assert chosen and all(not m.name.startswith("fault-") for m in chosen)
    assert any(m.name.startswith("fault-") for m in models)
    real = replace(endpoint, simulated=False)
    assert default_models(real, models) == models


async def test_discovery_of_an_endpoint_that_does_not_answer_raises_a_client_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = Endpoint(name="gone", url=f"http://127.0.0.1:{port}")
    with pytest.raises(ClientError) as info:
        await discover_models(endpoint)
    assert info.value.error.kind is ErrorKind.CONNECT
