"""End to end: what Dagster adds to the transform, and the demo's wall time, in one run.

    python benchmarks/pipeline.py [--rows 1000000]

One delivery day holding one gzip export of N rows, on the embedded default: the bare transform
(`convert_object` on the file) beside one partition materialized through the Dagster graph
(list, copy, type, check, register, publish, views), each in a fresh folder; then `make demo`'s
program (`python -m focus_assets.demo`) timed as a whole.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    figures = {"date": date.today().isoformat(), "cores": os.cpu_count(), "python": platform.python_version(),
               "rows": args.rows}
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
        steps = {e.step_key: e.event_specific_data.duration_ms / 1000 for e in result.all_events
                 if e.event_type_value == "STEP_SUCCESS"}
        figures["steps (s)"] = {k: round(v, 2) for k, v in steps.items()}

        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "focus_assets.demo"], env={**os.environ, "FOCUS_HOME": str(Path(folder) / "demo")},
                       check=True, stdout=subprocess.DEVNULL)
        figures["demo (s)"] = round(time.perf_counter() - started, 2)

    overhead = figures["one partition through Dagster (s)"] - figures["bare transform (s)"]
    print(f"{args.rows:,} rows, one delivery day ({figures['cores']} cores, Python {figures['python']})")
    print(f"  bare transform                 {figures['bare transform (s)']:>7.2f} s")
    print(f"  one partition through Dagster  {figures['one partition through Dagster (s)']:>7.2f} s "
          f"(+{overhead:.2f} s: copy, checks, read-back, registration, views, run machinery)")
    for step, seconds in figures["steps (s)"].items():
        print(f"    {step:<28}{seconds:>7.2f} s")
    print(f"  the demo's program             {figures['demo (s)']:>7.2f} s (5 deliveries, 4 runs, prints)")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
