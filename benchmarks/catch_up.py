"""Catch-up: a backfill of one month's daily month-to-date snapshots, on the embedded default.

    python benchmarks/catch_up.py [--days 30] [--rows-per-day 20000] [--skip-per-day]

Writes DAYS daily snapshots of January 2026 (the snapshot delivered on day d covers days 1..d-1,
so the month's last snapshot has DAYS x ROWS_PER_DAY rows), then, each in a fresh home:

  one run per day           the Dagster graph materialized for every delivery day, each its own run
  one run per day, catch-up the same with FOCUS_CATCH_UP (only the newest delivery of the month typed)
  one run for the range     a single-run backfill (BackfillPolicy.single_run): one run for all DAYS
                            days, typing the month's newest delivery once
  newest snapshot alone     one run of the newest snapshot's day, with only that snapshot delivered

and prints wall time, rows typed and the current view's total (which must be the same). The
target of issue 22: the range's one run within 2x the newest snapshot alone. --skip-per-day
leaves out the two slow per-day ways.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_resources
from focus_assets.samples.alibaba import ACCOUNTS, SampleDelivery, write_delivery

RESULTS = Path(__file__).resolve().parent / "results" / "catch_up.json"


def deliveries(days: int) -> list[SampleDelivery]:
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    return [
        SampleDelivery(
            f"focus-export/202601/202601{day:02d}T080000/{account}_{site}_BillingItemDetail_202601.csv.gz",
            "202601",
            f"202601{day:02d}T080000",
            day - 1,
        )
        for day in range(2, days + 2)
    ]


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _figures(resources, started: float, rows: int) -> dict:
    seconds = time.perf_counter() - started
    [(total,)] = resources["warehouse"].query("SELECT sum(BilledCost) FROM alibaba_focus WHERE BillingCurrency = 'CNY'")
    return {"seconds": round(seconds, 2), "rows typed": rows, "current CNY BilledCost": str(total)}


def _typed_rows(result) -> int:
    # A range run reports its rows on each day's materialization: count the run once.
    return result.asset_materializations_for_node("typed_focus_parquet")[0].metadata["dagster/row_count"].value


def per_day(home: Path, days: list[str], catch_up: bool) -> dict:
    resources = local_resources(home, catch_up=catch_up)
    started, rows = time.perf_counter(), 0
    for day in days:
        rows += _typed_rows(dg.materialize(ASSETS, partition_key=day, resources=resources, run_config=QUIET))
    return _figures(resources, started, rows)


def one_run(home: Path, days: list[str]) -> dict:
    resources = local_resources(home)
    started = time.perf_counter()
    result = dg.materialize(
        ASSETS,
        resources=resources,
        run_config=QUIET,
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]},
    )
    return _figures(resources, started, _typed_rows(result))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    parser.add_argument("--skip-per-day", action="store_true", help="leave out the two ways with a run per day")
    args = parser.parse_args()
    if not 1 <= args.days <= 30:
        parser.error("--days: 1 to 30 (one month)")
    ways = ["one run for the range", "newest snapshot alone"]
    if not args.skip_per_day:
        ways = ["one run per day", "one run per day, catch-up", *ways]
    with tempfile.TemporaryDirectory(prefix="focus-catch-up-") as folder:
        snapshots = deliveries(args.days)
        homes = {way: Path(folder) / str(n) for n, way in enumerate(ways)}
        for way, home in homes.items():
            for delivery in snapshots[-1:] if way == "newest snapshot alone" else snapshots:
                write_delivery(home / "oss", delivery, rows_per_day=args.rows_per_day)
        days = [f"{d.batch_ts[:4]}-{d.batch_ts[4:6]}-{d.batch_ts[6:8]}" for d in snapshots]
        print(
            f"{args.days} daily snapshots of 202601, the last with {(args.days) * args.rows_per_day:,} rows "
            f"({os.cpu_count()} cores, Python {platform.python_version()})"
        )
        figures = {}
        for way, home in homes.items():
            if way == "one run for the range":
                figures[way] = one_run(home, days)
            elif way == "newest snapshot alone":
                figures[way] = one_run(home, days[-1:])
            else:
                figures[way] = per_day(home, days, catch_up=way.endswith("catch-up"))
    print(f"{'':<28}{'wall time':>12}{'rows typed':>14}  current CNY BilledCost")
    for name, f in figures.items():
        print(f"{name:<28}{f['seconds']:>10.1f} s{f['rows typed']:>14,}  {f['current CNY BilledCost']}")
    ratio = figures["one run for the range"]["seconds"] / figures["newest snapshot alone"]["seconds"]
    same = len({f["current CNY BilledCost"] for f in figures.values()}) == 1
    print(
        f"the range in one run: {ratio:.2f}x the newest snapshot alone (target: 2x or less); "
        f"the same current view every way: {same}"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "load average": os.getloadavg()[0],
                "days": args.days,
                "rows_per_day": args.rows_per_day,
                **figures,
                "range / newest alone": round(ratio, 2),
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
