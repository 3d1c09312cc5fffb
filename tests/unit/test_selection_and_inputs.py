"""Model selection by name or family prefix; prompt files and images with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ometer_tui.core.inputs import InputFileError, read_image, read_prompts_file
from ometer_tui.core.models import ModelInfo, Workload
from ometer_tui.core.selection import AmbiguousModelName, filter_models, select_models

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


TWINS = [
    ModelInfo(name=n)
    for n in ("Qwen/Qwen2.5-7B-Instruct", "qwen/qwen2.5-7b-instruct", "llama3:8b", "Qwen/Other")
]


def names(patterns: list[str], models: list[ModelInfo] = TWINS) -> list[str]:
    chosen, unmatched = select_models(models, patterns)
    assert unmatched == []
    return [m.name for m in chosen]


def test_an_exact_name_selects_exactly_that_model_beside_its_case_twin() -> None:
    # server order puts the lower-case twin last: keyed by lower case, it used to win
    assert names(["Qwen/Qwen2.5-7B-Instruct"]) == ["Qwen/Qwen2.5-7B-Instruct"]
    assert names(["qwen/qwen2.5-7b-instruct"]) == ["qwen/qwen2.5-7b-instruct"]
    assert names(["Qwen/Qwen2.5-7B-Instruct"], TWINS[::-1]) == ["Qwen/Qwen2.5-7B-Instruct"]
    # a prefix tells the twins apart by its case too; other models it starts go along
    assert names(["Qwen/Qwen2"]) == ["Qwen/Qwen2.5-7B-Instruct"]
    assert names(["qwen/qwen2"]) == ["qwen/qwen2.5-7b-instruct"]
    assert names(["Qwen/"]) == ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Other"]


def test_case_insensitive_only_when_unambiguous() -> None:
    assert names(["LLAMA3:8B"]) == ["llama3:8b"]  # one model of that name: fine
    assert names(["qwen/other"]) == ["Qwen/Other"]
    for pattern in ("QWEN/QWEN2.5-7B-INSTRUCT", "QWEN/QWEN2", "QWEN/"):
        with pytest.raises(AmbiguousModelName) as caught:
            select_models(TWINS, [pattern])
        assert caught.value.candidates == ("Qwen/Qwen2.5-7B-Instruct", "qwen/qwen2.5-7b-instruct")
        message = str(caught.value)
        assert "'Qwen/Qwen2.5-7B-Instruct'" in message and "'qwen/qwen2.5-7b-instruct'" in message
        assert "differ only in case" in message


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
