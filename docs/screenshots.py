"""The docs' screenshots, taken by a real browser (headless Chromium) on the demo's data:
`docs/images/dagster-lineage.png`, the asset lineage of the group alibaba_focus in the Dagster UI
(`make ui`), and `docs/images/cost-report.png`, the top of the cost report (`cost_report`).

    make screenshots
    .venv/bin/python docs/screenshots.py [--out docs/images] [--home DIR]

1. Runs the demo (`focus_assets.demo`) in a temporary FOCUS_HOME (or --home), recording its runs
   in a temporary Dagster instance (DAGSTER_HOME), so the UI shows every asset materialized.
2. Starts `dagster dev -w workspace.yaml` on a free port with that FOCUS_HOME and DAGSTER_HOME,
   waits for /server_info and for the code location to load, and marks the UI's first-visit
   dialog as seen (the GraphQL mutation `setNuxSeen`).
3. Loads the group's lineage page (/locations/__repository__@focus_assets.definitions/asset-groups/
   alibaba_focus/lineage) with --dump-dom until every asset's node is in the page, then takes the
   screenshot; checks that the report's charts rendered, then takes its screenshot.
4. Stops the server: SIGINT to its process group, SIGKILL after 30 seconds.

Needs Chromium (Debian: `apt-get install -y --no-install-recommends chromium`; or FOCUS_CHROMIUM).
Nothing is downloaded: the UI is served locally, the report embeds plotly.js.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GROUP = "alibaba_focus"
LOCATION = "focus_assets.definitions"  # workspace.yaml's python_module: the code location's name
LINEAGE = f"/locations/__repository__@{LOCATION}/asset-groups/{GROUP}/lineage"
ASSETS = (
    "raw_oss_export",
    "raw_s3_csv",
    "typed_focus_parquet",
    "athena_table",
    "provider_views",
    "unified_focus_view",
    "cost_report",
)
LINEAGE_WINDOW = (2200, 520)  # wide enough for the seven nodes at full detail, side by side
LINEAGE_SCALE = 1.5  # device pixels per CSS pixel: a 3300 x 780 picture, sharp when zoomed
REPORT_WINDOW = (1280, 2130)  # the header, the freshness tables, the first chart and its figures


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str, body: dict | None = None, timeout: float = 10) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def wait_until(check, what: str, seconds: float, process: subprocess.Popen | None = None, pause: float = 1.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the server exited with {process.returncode}")
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(pause)
    raise RuntimeError(f"{what}: not within {seconds:.0f} s")


def run_demo(home: Path, dagster_home: Path) -> None:
    """The demo in its own process (it prints a lot), its runs recorded in `dagster_home`."""
    code = (
        "import sys, dagster as dg\nfrom focus_assets import demo\n"
        "with dg.DagsterInstance.get() as instance:\n    sys.exit(demo.main(instance))\n"
    )
    environment = {**_environment(), "FOCUS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def _environment() -> dict[str, str]:
    """This environment without another deployment's settings (the demo and the UI run `local`)."""
    return {name: value for name, value in os.environ.items() if not name.startswith(("FOCUS_", "DAGSTER_"))}


@contextlib.contextmanager
def dagster_dev(home: Path, dagster_home: Path, log: Path):
    port = free_port()
    environment = {
        **_environment(),
        "FOCUS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    with open(log, "w") as output:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=ROOT,
            env=environment,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: b"dagster_webserver_version" in fetch(f"{base}/server_info"), "dagster dev", 180, process)
        query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
        wait_until(
            lambda: all(
                e["loadStatus"] == "LOADED"
                for e in json.loads(fetch(f"{base}/graphql", {"query": query}))["data"]["workspaceOrError"][
                    "locationEntries"
                ]
            ),
            "the code location",
            180,
            process,
        )
        fetch(f"{base}/graphql", {"query": "mutation { setNuxSeen }"})  # no first-visit dialog over the graph
        yield base
    except RuntimeError as exc:
        raise RuntimeError(f"{exc}\n--- the end of the dagster dev log ({log})\n{log.read_text()[-3000:]}") from None
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def lineage_screenshot(base: str, path: Path) -> Path:
    from focus_assets.reporting import browser

    url = base + LINEAGE

    def every_node_drawn():
        dom = browser.dump_dom(url, budget_ms=15000, window=LINEAGE_WINDOW)
        return all(name in dom for name in ASSETS) and "Materialized" in dom

    wait_until(every_node_drawn, f"the lineage graph at {url}", 240, pause=2)
    return browser.screenshot(url, path, window=LINEAGE_WINDOW, budget_ms=15000, scale=LINEAGE_SCALE)


def report_screenshot(report: Path, path: Path) -> Path:
    from focus_assets.reporting import browser

    dom = browser.dump_dom(report.as_uri(), offline=True)
    charts = browser.rendered_charts(dom)
    empty = [name for name, chart in charts.items() if not chart.marks]
    if len(charts) != 5 or empty:
        raise RuntimeError(f"the report's charts did not all render: {sorted(charts)}, empty: {empty}")
    return browser.screenshot(report.as_uri(), path, window=REPORT_WINDOW, offline=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images", help="where the PNGs go")
    parser.add_argument("--home", type=Path, help="FOCUS_HOME for the demo's data (default: a temporary folder)")
    arguments = parser.parse_args(argv)
    out = arguments.out.resolve()
    with tempfile.TemporaryDirectory(prefix="focus-screenshots-") as scratch:
        scratch = Path(scratch)
        home = (arguments.home or scratch / "focus").resolve()
        dagster_home = scratch / "dagster"
        dagster_home.mkdir()
        print(f"demo data in {home}, Dagster instance in {dagster_home}")
        run_demo(home, dagster_home)
        with dagster_dev(home, dagster_home, scratch / "dagster-dev.log") as base:
            print(f"dagster dev on {base}")
            lineage = lineage_screenshot(base, out / "dagster-lineage.png")
            print(f"wrote {lineage}")
        report = report_screenshot(home / "reports" / "cost_report.html", out / "cost-report.png")
        print(f"wrote {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
