"""Model selection by name or family prefix; prompt files and images with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import ModelInfo, Workload
from ometer_tui.core.selection import filter_models, select_models

MODELS = [ModelInfo(name=n) for n in ("llama3:8b", "llama3.2:1b", "llama3", "qwen3:4b", "Phi4")]


def test_family_prefix_and_exact_names() -> None:
    chosen, unmatched = select_models(MODELS, ["llama3.2", "qwen3"])
    assert [m.name for m in chosen] == ["llama3.2:1b", "qwen3:4b"] and unmatched == []
    chosen, _ = select_models(MODELS, ["llama3"])  # an exact name wins over the prefix
    assert [m.name for m in chosen] == ["llama3"]
    chosen, _ = select_models(MODELS[:2], ["llama3"])
    assert [m.name for m in chosen] == ["llama3:8b", "llama3.2:1b"]
    chosen, unmatched = select_models(MODELS, ["PHI", "mistral"])
    assert [m.name for m in chosen] == ["Phi4"] and unmatched == ["mistral"]


def test_filter_keeps_server_order_and_empty_shows_all() -> None:
    assert filter_models(MODELS, "") == MODELS
    assert [m.name for m in filter_models(MODELS, " LLAMA3.")] == ["llama3.2:1b"]


def test_capabilities_decide_the_workload() -> None:
    assert ModelInfo("e", capabilities=("embedding",)).workload is Workload.EMBEDDING
    assert ModelInfo("v", capabilities=("completion", "vision")).workload is Workload.VISION
    assert ModelInfo("c", capabilities=("completion", "tools")).workload is Workload.CHAT
    assert ModelInfo("unknown").workload is Workload.CHAT


def test_prompts_file(tmp_path: Path) -> None:
    f = tmp_path / "p.txt"
    f.write_text("\ufefffirst\n\n  second  \n", encoding="utf-8")
    assert read_prompts_file(f) == ("first", "second")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "has no prompts"),
        (b"\n \n", "has no prompts"),
        (b"a\x00b", "binary"),
        (b"\xff\xfe\xfa", "not UTF-8"),
    ],
)
def test_bad_prompts_files_name_the_file(tmp_path: Path, content: bytes, needle: str) -> None:
    f = tmp_path / "p.txt"
    f.write_bytes(content)
    with pytest.raises(InputFileError, match=needle) as raised:
        read_prompts_file(f)
    assert str(f) in str(raised.value)
    with pytest.raises(InputFileError, match="not found"):
        read_prompts_file(tmp_path / "missing.txt")
    with pytest.raises(InputFileError, match="folder"):
        read_prompts_file(tmp_path)


def test_images_are_checked_by_their_first_bytes(tmp_path: Path) -> None:
    png = tmp_path / "a.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    assert read_image(png).mime_type == "image/png"
    jpg = tmp_path / "a.jpg"
    jpg.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 8)
    assert read_image(jpg).mime_type == "image/jpeg"
    webp = tmp_path / "a.webp"
    webp.write_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ")
    assert read_image(webp).mime_type == "image/webp"
    fake = tmp_path / "fake.png"
    fake.write_text("hello")
    with pytest.raises(InputFileError, match=r"fake\.png: not a PNG"):
        read_image(fake)
