"""The endpoint model: base URL forms, credentials never shown, loopback detection."""

from __future__ import annotations

import pytest

from ometer_tui.core.models import Endpoint


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("http://localhost:11434", "http://localhost:11434"),
        ("http://localhost:11434/", "http://localhost:11434"),
        ("https://api.openai.com/v1", "https://api.openai.com"),
        ("https://api.groq.com/openai/v1/", "https://api.groq.com/openai"),
        ("http://gpu-box:8000/v10", "http://gpu-box:8000/v10"),
    ],
)
def test_base_url_accepts_an_sdk_style_v1_suffix(url: str, base: str) -> None:
    assert Endpoint(name="e", url=url).base_url == base


def test_display_url_drops_credentials() -> None:
    ep = Endpoint(name="e", url="https://user:s3cret@llm.example.com/v1")
    assert ep.display_url == "https://llm.example.com/v1"
    assert "s3cret" not in ep.display_url


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:1", True),
        ("http://localhost", True),
        ("http://[::1]:8000", True),
        ("https://ollama.com", False),
        ("http://127.example.com", False),
    ],
)
def test_loopback(url: str, loopback: bool) -> None:
    assert Endpoint(name="e", url=url).is_loopback is loopback
