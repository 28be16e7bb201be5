"""Headless Chromium from the command line: the tests use it to check that the report's charts
render, `docs/screenshots.py` to picture the report and the Dagster UI.

Debian's `chromium` package (`apt-get install -y --no-install-recommends chromium`; `.ci/run`
installs it), or any Chrome named by FOCUS_CHROMIUM. Each run gets a fresh profile folder, so runs
never share state. `--virtual-time-budget` lets the page's scripts (plotly, the Dagster UI's
React app) run to rest before the DOM is dumped or the picture taken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--hide-scrollbars",
    "--mute-audio",
)
# Every host name fails to resolve: a page that still renders needs no network.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"


class ChromiumMissing(RuntimeError):
    pass


def find_chromium() -> str:
    explicit = os.environ.get("FOCUS_CHROMIUM")
    if explicit:
        if not (shutil.which(explicit) or Path(explicit).is_file()):
            raise ChromiumMissing(f"FOCUS_CHROMIUM={explicit!r} is not an executable")
        return shutil.which(explicit) or explicit
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing(
        "headless Chromium is needed and none was found (looked for " + ", ".join(NAMES) + "): install Debian's "
        "package with `sudo apt-get install -y --no-install-recommends chromium` (.ci/run does), or set "
        "FOCUS_CHROMIUM to a Chrome or Chromium executable"
    )


def run(url: str, *arguments: str, offline: bool = False, timeout: float = 180) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="focus-chromium-") as profile:
        command = [
            find_chromium(),
            *FLAGS,
            f"--user-data-dir={profile}",
            *([OFFLINE] if offline else []),
            *arguments,
            url,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"chromium exited with {result.returncode} on {url}: {result.stderr[-2000:]}")
    return result


def dump_dom(url: str, budget_ms: int = 5000, offline: bool = False, window: tuple[int, int] = (1280, 1000)) -> str:
    """The page's DOM once its scripts ran (serialized as HTML)."""
    return run(
        url,
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window[0]},{window[1]}",
        "--dump-dom",
        offline=offline,
    ).stdout


def screenshot(
    url: str,
    path: Path,
    window: tuple[int, int] = (1280, 2000),
    budget_ms: int = 5000,
    offline: bool = False,
    scale: float = 1.0,
) -> Path:
    """A PNG of the page's first `window` pixels (width, height)."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    run(
        url,
        f"--virtual-time-budget={budget_ms}",
        f"--window-size={window[0]},{window[1]}",
        f"--force-device-scale-factor={scale}",
        f"--screenshot={path}",
        offline=offline,
    )
    if not path.is_file():
        raise RuntimeError(f"chromium wrote no screenshot of {url} to {path}")
    return path


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    header = Path(path).read_bytes()[:24]
    if header[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@dataclass
class Chart:
    """What a plotly chart's div holds once plotly drew it."""

    svgs: int = 0  # plotly's <svg class="main-svg"> layers
    marks: int = 0  # drawn data points: a bar, or a marker of a line (class "point")
    texts: list[str] = field(default_factory=list)  # titles, axis labels, tick labels


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Charts(HTMLParser):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix, self.stack, self.charts = prefix, [], {}

    def _current(self) -> Chart | None:
        inside = [name for name in self.stack if name]
        return self.charts[inside[0]] if inside else None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        element_id = attributes.get("id") or ""
        if tag not in _VOID:
            mine = element_id if element_id.startswith(self.prefix) and self._current() is None else None
            if mine:
                self.charts[mine] = Chart()
            self.stack.append(mine)
        chart = self._current()
        if chart is not None:
            classes = (attributes.get("class") or "").split()
            chart.svgs += tag == "svg" and "main-svg" in classes
            chart.marks += "point" in classes

    def handle_startendtag(self, tag, attrs):
        if tag in _VOID:
            self.handle_starttag(tag, attrs)
        else:  # <path ... /> in serialized SVG: opened and closed
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag not in _VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        chart = self._current()
        if chart is not None and data.strip():
            chart.texts.append(data.strip())


def rendered_charts(dom: str, prefix: str = "chart-") -> dict[str, Chart]:
    """Per element whose id starts with `prefix` (the report's chart divs), what was drawn in it."""
    parser = _Charts(prefix)
    parser.feed(dom)
    return parser.charts
