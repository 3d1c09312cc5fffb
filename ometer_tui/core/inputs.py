"""Reading what the user points at: prompt files and images, with clear errors."""

from __future__ import annotations

from pathlib import Path

from ometer_tui.core.api.base import ImageInput

MAX_PROMPT_FILE_BYTES = 10 * 1024 * 1024
MAX_IMAGE_BYTES = 20 * 1024 * 1024

_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class InputFileError(ValueError):
    """A prompt or image file that cannot be used; the message names the file."""


def read_prompts_file(path: Path) -> tuple[str, ...]:
    """One prompt per non-blank line (UTF-8)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"prompts file {path}: not found") from None
    except IsADirectoryError:
        raise InputFileError(f"prompts file {path}: is a folder, not a file") from None
    except OSError as exc:
        raise InputFileError(f"prompts file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_PROMPT_FILE_BYTES:
        raise InputFileError(f"prompts file {path}: larger than 10 MiB")
    if b"\x00" in data:
        raise InputFileError(f"prompts file {path}: looks binary (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"prompts file {path}: not UTF-8 text (byte {exc.start})") from None
    prompts = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not prompts:
        raise InputFileError(f"prompts file {path}: has no prompts (one per line)")
    return prompts


def read_image(path: Path) -> ImageInput:
    """A PNG, JPEG, GIF or WebP file, checked by its first bytes."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"image {path}: not found") from None
    except OSError as exc:
        raise InputFileError(f"image {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise InputFileError(f"image {path}: larger than 20 MiB")
    for signature, mime in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return ImageInput(data=data, mime_type=mime)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageInput(data=data, mime_type="image/webp")
    raise InputFileError(f"image {path}: not a PNG, JPEG, GIF or WebP image")
