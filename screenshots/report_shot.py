"""Render the HTML report of a demo benchmark to PNG in a real headless browser.

    python screenshots/report_shot.py [--out screenshots] [--size 1280x2000] [--json FILE]

Runs a short benchmark against the built-in demo endpoint (``ometer-tui run --demo``, a
subprocess, nothing saved to the history), writes its HTML report, and has Chromium
(Debian's ``chromium`` package) take screenshots of it in the light and the dark colour
scheme: ``report.png`` and ``report-dark.png``. ``--json`` renders an existing JSON export
instead of running the demo. The browser is cut off from the network (every host name
resolves to nothing), so the pictures also show the page needs none.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ometer_tui.core.export_read import read_document  # noqa: E402
from ometer_tui.core.report import to_html  # noqa: E402

#: The demo models in the picture: fast and slow ones, a thinking one, a bursty stream and
#: one that always fails (so the errors chart and a model without an ok run appear).
MODELS = ("demo-fast:1b", "demo-medium:8b", "demo-think:7b", "quirk-bursty", "fault-server-error")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The path of a Chromium-family browser on PATH, or ``None``."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_command(browser: str, profile: Path, *args: str) -> list[str]:
    """A headless, offline, throw-away-profile invocation of ``browser``."""
    cmd = [
        browser,
        "--headless",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        # offline: any host name resolves to nothing, so a fetch would fail
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={profile}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return [*cmd, *args]


def screenshot(
    browser: str, page: Path, png: Path, size: tuple[int, int], *, dark: bool = False
) -> None:
    """``page`` rendered to ``png`` at ``size`` (width, height) CSS pixels."""
    with tempfile.TemporaryDirectory(prefix="ometer-chromium-") as profile:
        extra = ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"] if dark else []
        cmd = browser_command(
            browser,
            Path(profile),
            *extra,
            f"--window-size={size[0]},{size[1]}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        )
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if done.returncode != 0 or not png.exists():
        raise RuntimeError(f"{browser} failed ({done.returncode}): {done.stderr[-2000:]}")


def dump_dom(browser: str, page: Path) -> str:
    """The page's DOM as the browser built it (``--dump-dom``)."""
    with tempfile.TemporaryDirectory(prefix="ometer-chromium-") as profile:
        cmd = browser_command(browser, Path(profile), "--dump-dom", page.resolve().as_uri())
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{browser} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def demo_export(folder: Path) -> Path:
    """Run a short demo benchmark and return its JSON export."""
    out = folder / "demo.json"
    models = [arg for m in MODELS for arg in ("--model", m)]
    cmd = [
        sys.executable, "-m", "ometer_tui", "run", "--demo", *models, "--passes", "8",
        "--warmup", "1", "--concurrency", "3", "--max-tokens", "48", "--retries", "0",
        "--no-history", "--quiet", "--output", str(out),
    ]  # fmt: skip
    env = {**os.environ, "OMETER_TUI_CONFIG": str(folder / "no-config.toml")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if not out.exists():  # exit code 1 is expected: the fault model's runs fail
        raise RuntimeError(f"the demo run wrote nothing ({done.returncode}): {done.stderr}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--size", default="1280x2000", help="window WIDTHxHEIGHT")
    parser.add_argument("--json", type=Path, help="render this JSON export instead")
    args = parser.parse_args(argv)
    browser = find_browser()
    if browser is None:
        print("no Chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    width, _, height = args.size.partition("x")
    size = (int(width), int(height))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ometer-report-") as tmp:
        folder = Path(tmp)
        source = args.json or demo_export(folder)
        page = folder / "report.html"
        page.write_text(to_html(read_document(source)), encoding="utf-8")
        for name, dark in (("report.png", False), ("report-dark.png", True)):
            screenshot(browser, page, args.out / name, size, dark=dark)
            print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
