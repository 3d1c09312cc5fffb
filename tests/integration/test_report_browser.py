"""The HTML report opened in a real headless browser (Chromium from Debian's packages), cut
off from the network: it renders (a PNG of the asked size, not blank), in the light and
the dark colour scheme, and the DOM the browser built has the tables and the charts."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from ometer_tui.core.export import to_dict
from ometer_tui.core.report import to_html
from screenshots.report_shot import dump_dom, find_browser, screenshot
from tests.history_samples import synthetic_result
from tests.unit.test_report_html import _telemetry

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium on PATH (Debian: apt-get install chromium); the report is still "
    "checked by tests/unit/test_report_html.py",
)


def png_facts(path: Path) -> tuple[int, int, tuple[int, int, int], int]:
    """(width, height, the top-left pixel's RGB, distinct byte values in the image data)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
            assert body[8] == 8 and body[9] in (2, 6), "8-bit RGB or RGBA expected"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    # the first pixel of the first row is stored as is whatever the row's filter
    first = (raw[1], raw[2], raw[3])
    return width, height, first, len(set(raw))


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    doc = to_dict(synthetic_result(models=("alpha:1b", "beta <8b>"), runs=12, error_every=6))
    doc["telemetry"] = _telemetry()
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(to_html(doc), encoding="utf-8")
    return path


def test_the_report_renders_in_chromium_light_and_dark(page: Path, tmp_path: Path) -> None:
    assert BROWSER is not None
    light, dark = tmp_path / "light.png", tmp_path / "dark.png"
    screenshot(BROWSER, page, light, (1000, 1400))
    screenshot(BROWSER, page, dark, (1000, 1400), dark=True)
    w, h, corner, distinct = png_facts(light)
    assert (w, h) == (1000, 1400)
    assert distinct > 32, "a blank page"
    assert corner == (255, 255, 255)  # the light background
    w, h, corner, distinct = png_facts(dark)
    assert (w, h) == (1000, 1400) and distinct > 32
    assert corner == (0x11, 0x14, 0x18)  # prefers-color-scheme: dark


def test_the_browser_builds_the_tables_and_the_charts(page: Path) -> None:
    assert BROWSER is not None
    dom = dump_dom(BROWSER, page)
    assert "<table>" in dom and '<th scope="row">alpha:1b</th>' in dom
    assert '<th scope="row">beta &lt;8b&gt;</th>' in dom  # still text, never markup
    assert dom.count('role="img"') >= 8
    for title in ("Output tokens/s", "TTFT over time", "requests_running (prometheus)"):
        assert f"<title>{title}</title>" in dom
