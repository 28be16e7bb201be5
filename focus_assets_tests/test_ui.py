"""What `make ui` shows after `make demo`, asked through the webserver's GraphQL API as the UI asks:
the demo's runs, every delivery day's materializations and the check results are in the instance
of FOCUS_HOME (FOCUS_HOME/dagster). And a run started from another process (here the CLI, as the
UI's Materialize button starts one from the webserver) reads the same configuration as the demo:
focus_unified keeps every provider of FOCUS_HOME/sources.json."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import DAGSTER_FOLDER, local_sources
from focus_assets.samples.alibaba import sample_deliveries

from .helpers import dagster_webserver, run_tags

PROVIDERS = {"Alibaba Cloud", "AWS", "Microsoft", "Oracle", "Datacenter"}  # the demo's sources.json and Alibaba
RUN_SECONDS = 180  # the most the CLI's run may take on a loaded machine


def _environment(home: Path) -> dict[str, str]:
    """This environment without another deployment's settings: `local` on `home`."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("FOCUS_", "DAGSTER_"))}
    return {**clean, "FOCUS_HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _providers(home: Path) -> set[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        return {row[0] for row in connection.sql("SELECT DISTINCT x_SourceProvider FROM focus_unified").fetchall()}


def test_the_ui_shows_the_demos_runs_and_a_run_from_elsewhere_keeps_every_provider(demo_run, tmp_path):
    started = time.monotonic()
    # A copy of the session's demo home (others read it): FOCUS_HOME moves with its instance and sources.
    home = tmp_path / "focus"
    shutil.copytree(demo_run.home, home)
    assert set(local_sources(home)) == {"aws_focus_1_0", "azure", "oci", "datacenter"}
    assert _providers(home) == PROVIDERS
    days = sorted({f"{d.batch_ts[:4]}-{d.batch_ts[4:6]}-{d.batch_ts[6:8]}" for d in sample_deliveries()})
    environment = _environment(home)

    with dagster_webserver(home / DAGSTER_FOLDER, environment, tmp_path / "webserver.log") as ui:
        print(f"webserver up after {time.monotonic() - started:.0f} s")
        runs = ui.runs()
        assert all(run["status"] == "SUCCESS" for run in runs), runs
        by_day = {run_tags(run).get("dagster/partition"): run["runId"] for run in runs}
        assert len(runs) == len(days) + 1 and set(by_day) == {*days, None}, "one run per delivery day and the report's"

        for asset in ASSETS:
            for day in days:
                assert ui.materializing_runs(asset.key.to_user_string(), day) == {by_day[day]}, (asset.key, day)
        # Every check of the six assets has a result in each day's run; the two that guard the money
        # and the table passed.
        checks = {(key.asset_key.to_user_string(), key.name) for asset in ASSETS for key in asset.check_keys}
        assert len(checks) >= 4, checks
        for asset, check in checks:
            results = ui.check_results(asset, check)
            assert {by_day[day] for day in days} <= set(results), (asset, check, results)
        for asset, check in (("typed_focus_parquet", "reconciliation"), ("athena_table", "table_schema")):
            assert all(ui.check_results(asset, check)[by_day[day]] == {"SUCCEEDED"} for day in days), check

        # A run of the last day's unified view from another process, with only FOCUS_HOME and
        # DAGSTER_HOME set, as a run the UI starts: it reads sources.json as the demo wrote it.
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "dagster"),
                "asset",
                "materialize",
                "-m",
                "focus_assets.definitions",
                "--select",
                "unified_focus_view",
                "--partition",
                days[-1],
            ],
            cwd=tmp_path,
            env={**environment, "DAGSTER_HOME": str(home / DAGSTER_FOLDER)},
            capture_output=True,
            text=True,
            timeout=RUN_SECONDS,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        [new] = [r for r in ui.runs() if r["runId"] not in {r["runId"] for r in runs}]
        assert new["status"] == "SUCCESS" and run_tags(new).get("dagster/partition") == days[-1], new
        assert new["runId"] in ui.materializing_runs("unified_focus_view", days[-1])

    assert _providers(home) == PROVIDERS, "a run outside the demo rebuilt focus_unified without the other providers"
    print(f"the test took {time.monotonic() - started:.0f} s")
