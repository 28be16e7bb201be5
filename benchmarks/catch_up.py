"""Catch-up: a backfill of one month's daily month-to-date snapshots, typed in full and with
`catch_up` (only the newest delivery of the month), on the embedded default, in one run.

    python benchmarks/catch_up.py [--days 30] [--rows-per-day 20000]

Writes DAYS daily snapshots of January 2026 (the snapshot delivered on day d covers days 1..d-1,
so the month's last snapshot has DAYS x ROWS_PER_DAY rows), then materializes the Dagster graph
for every delivery day, once as a plain backfill and once with FOCUS_CATCH_UP, each in a fresh
home, and prints wall time, rows typed and the current view's total (which must be the same).
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
    return [SampleDelivery(f"focus-export/202601/202601{day:02d}T080000/{account}_{site}_BillingItemDetail_202601.csv.gz",
                           "202601", f"202601{day:02d}T080000", day - 1) for day in range(2, days + 2)]


def backfill(home: Path, days: list[str], catch_up: bool) -> dict:
    resources = local_resources(home, catch_up=catch_up)
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    started, rows = time.perf_counter(), 0
    for day in days:
        result = dg.materialize(ASSETS, partition_key=day, resources=resources, run_config=quiet)
        typed = result.asset_materializations_for_node("typed_focus_parquet")[0].metadata
        rows += typed["dagster/row_count"].value
    seconds = time.perf_counter() - started
    [(total,)] = resources["warehouse"].query("SELECT sum(BilledCost) FROM alibaba_focus WHERE BillingCurrency = 'CNY'")
    return {"seconds": round(seconds, 2), "rows typed": rows, "current CNY BilledCost": str(total)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    args = parser.parse_args()
    if not 1 <= args.days <= 30:
        parser.error("--days: 1 to 30 (one month)")
    with tempfile.TemporaryDirectory(prefix="focus-catch-up-") as folder:
        homes = {name: Path(folder) / name for name in ("full", "catch-up")}
        snapshots = deliveries(args.days)
        for home in homes.values():
            for delivery in snapshots:
                write_delivery(home / "oss", delivery, rows_per_day=args.rows_per_day)
        days = [f"{d.batch_ts[:4]}-{d.batch_ts[4:6]}-{d.batch_ts[6:8]}" for d in snapshots]
        print(f"{args.days} daily snapshots of 202601, the last with {(args.days) * args.rows_per_day:,} rows; "
              f"one Dagster run per delivery day ({os.cpu_count()} cores, Python {platform.python_version()})")
        figures = {"full backfill": backfill(homes["full"], days, catch_up=False),
                   "catch-up": backfill(homes["catch-up"], days, catch_up=True)}
    print(f"{'':<16}{'wall time':>12}{'rows typed':>14}  current CNY BilledCost")
    for name, f in figures.items():
        print(f"{name:<16}{f['seconds']:>10.1f} s{f['rows typed']:>14,}  {f['current CNY BilledCost']}")
    full, fast = figures["full backfill"], figures["catch-up"]
    print(f"catch-up: {full['seconds'] / fast['seconds']:.1f}x faster, {full['rows typed'] / max(fast['rows typed'], 1):.0f}x "
          f"fewer rows typed, the same current view: {full['current CNY BilledCost'] == fast['current CNY BilledCost']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"date": date.today().isoformat(), "cores": os.cpu_count(),
                                   "python": platform.python_version(), "days": args.days,
                                   "rows_per_day": args.rows_per_day, **figures}, indent=2) + "\n")
    return 0 if full["current CNY BilledCost"] == fast["current CNY BilledCost"] else 1


if __name__ == "__main__":
    sys.exit(main())
