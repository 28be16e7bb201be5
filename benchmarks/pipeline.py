"""End to end: what Dagster adds to the transform, and the demo's wall time, in one run.

    python benchmarks/pipeline.py [--rows 1000000]

One delivery day holding one gzip export of N rows, on the embedded default: the bare transform
(`convert_object` on the file) beside one partition materialized through the Dagster graph
(list, copy, type, check, register, publish, views), each in a fresh folder; then the same
partition as a deployment runs it, `dagster asset materialize` in a process of its own, with the
definitions' executor (every step in the run's process) and with Dagster's default executor (a
process per step) for comparison; then `make demo`'s program (`python -m focus_assets.demo`)
timed as a whole.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_resources
from focus_assets.focus.transform import convert_object
from focus_assets.samples.alibaba import write_large_export

KEY = "focus-export/202601/20260129T080000/1234567890123456_26842_BillingItemDetail_202601.csv.gz"
RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"
# The deployment's definitions with Dagster's default executor instead of the one they set.
PROCESS_PER_STEP = """
import dagster as dg
from focus_assets import definitions
defs = dg.Definitions(assets=definitions.defs.assets, resources=definitions.resources, executor=dg.multiprocess_executor)
"""


def materialize_with_the_cli(home: Path, dagster_home: Path, definitions: list[str]) -> float:
    """Wall seconds of `dagster asset materialize` of the six assets for the export's day, in a
    fresh process (the definitions loaded, as a launched run loads them), on FOCUS_HOME `home`."""
    shutil.rmtree(home / "raw", ignore_errors=True)
    shutil.rmtree(home / "lake", ignore_errors=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        *definitions,
        "--select",
        ",".join(a.key.to_user_string() for a in ASSETS),
        "--partition",
        "2026-01-29",
    ]
    environment = {**os.environ, "FOCUS_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    started = time.perf_counter()
    subprocess.run(command, env=environment, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    figures = {
        "date": date.today().isoformat(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "rows": args.rows,
    }
    with tempfile.TemporaryDirectory(prefix="focus-pipeline-") as folder:
        home = Path(folder) / "home"
        export = home / "oss" / KEY
        export.parent.mkdir(parents=True)
        write_large_export(export, args.rows)

        started = time.perf_counter()
        report = convert_object(export, KEY, Path(folder) / "bare")
        figures["bare transform (s)"] = round(time.perf_counter() - started, 2)
        assert not report.reconciliation.mismatches()

        quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
        started = time.perf_counter()
        result = dg.materialize(ASSETS, partition_key="2026-01-29", resources=local_resources(home), run_config=quiet)
        figures["one partition through Dagster (s)"] = round(time.perf_counter() - started, 2)
        assert result.success
        steps = {
            e.step_key: e.event_specific_data.duration_ms / 1000
            for e in result.all_events
            if e.event_type_value == "STEP_SUCCESS"
        }
        figures["steps (s)"] = {k: round(v, 2) for k, v in steps.items()}

        per_step = Path(folder) / "process_per_step.py"
        per_step.write_text(PROCESS_PER_STEP)
        figures["dagster asset materialize (s)"] = materialize_with_the_cli(
            home, Path(folder) / "dagster", ["-m", "focus_assets.definitions"]
        )
        figures["dagster asset materialize, a process per step (s)"] = materialize_with_the_cli(
            home, Path(folder) / "dagster", ["-f", str(per_step)]
        )

        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "focus_assets.demo"],
            env={**os.environ, "FOCUS_HOME": str(Path(folder) / "demo")},
            check=True,
            stdout=subprocess.DEVNULL,
        )
        figures["demo (s)"] = round(time.perf_counter() - started, 2)

    overhead = figures["one partition through Dagster (s)"] - figures["bare transform (s)"]
    print(f"{args.rows:,} rows, one delivery day ({figures['cores']} cores, Python {figures['python']})")
    print(f"  bare transform                 {figures['bare transform (s)']:>7.2f} s")
    print(
        f"  one partition through Dagster  {figures['one partition through Dagster (s)']:>7.2f} s "
        f"(+{overhead:.2f} s: copy, checks, read-back, registration, views, run machinery)"
    )
    for step, seconds in figures["steps (s)"].items():
        print(f"    {step:<28}{seconds:>7.2f} s")
    print(
        f"  dagster asset materialize      {figures['dagster asset materialize (s)']:>7.2f} s "
        "(a new process, as a launched run: the definitions' executor, every step in it)"
    )
    print(
        f"    with a process per step      {figures['dagster asset materialize, a process per step (s)']:>7.2f} s "
        "(Dagster's default executor)"
    )
    print(f"  the demo's program             {figures['demo (s)']:>7.2f} s (5 deliveries, 4 runs, prints)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
