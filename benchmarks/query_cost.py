"""Query cost: what a typical month query reads on DuckDB through the current view, through the
history of all snapshots, and straight from the latest delivery's files.

    python benchmarks/query_cost.py [--days 10] [--rows-per-day 30000] [--repeat 5]

Builds a lake on the embedded default (a temporary FOCUS_HOME): the final December 2025 file
(delivered 3 Jan, 31 days) and DAYS daily month-to-date snapshots of January 2026 (the snapshot
delivered on day d covers days 1..d-1, so the last has DAYS x ROWS_PER_DAY rows). Each delivery
goes through what the assets run: `convert_object` (typed Parquet), `record_delivery` (the ledger
row) and `DuckDBWarehouse.create` with the real tables and views of `sql/`.

Then, for each query, DuckDB's JSON profile (fresh read-only connection, cold DuckDB caches) gives
the bytes read from disk (`io.total_bytes_read`), the bytes, rows and row groups the scans read
and the Parquet files opened; the wall time is the median of REPEAT runs on a warm connection
(after one warm-up run, OS page cache warm). Also reports the layout of the latest partition
(pyarrow metadata). Prints a table and a conclusion; writes benchmarks/results/query_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from focus_assets.deployment import local_resources
from focus_assets.focus.export_sources import DEFAULT_SOURCE
from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.transform import convert_object
from focus_assets.focus.writer import OUTPUT_TABLE, partition_dir, record_delivery
from focus_assets.resources.warehouse import objects_of
from focus_assets.samples.alibaba import ACCOUNTS, SampleDelivery, write_delivery

RESULTS = Path(__file__).resolve().parent / "results" / "query_cost.json"
MONTH = "202601"
SELECT = "SELECT ServiceName, BillingCurrency, sum(BilledCost) AS billed"


def deliveries(days: int) -> list[SampleDelivery]:
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    name = f"{account}_{site}_BillingItemDetail"
    final = SampleDelivery(f"focus-export/202512/20260103T100000/{name}_202512.csv", "202512", "20260103T100000", 31)
    return [final] + [
        SampleDelivery(
            f"focus-export/{MONTH}/{MONTH}{day:02d}T080000/{name}_{MONTH}.csv",
            MONTH,
            f"{MONTH}{day:02d}T080000",
            day - 1,
        )
        for day in range(2, days + 2)
    ]


def build(home: Path, days: int, rows_per_day: int) -> tuple[dict, float]:
    """The lake and the warehouse, as the assets leave them after every delivery day."""
    resources = local_resources(home)
    lake = Path(resources["lake"].root)
    settings = TransformSettings()
    started = time.perf_counter()
    for delivery in deliveries(days):
        path = write_delivery(home / "oss", delivery, rows_per_day=rows_per_day)
        report = convert_object(path, delivery.key, lake, settings)
        written = sum(m.reconciliation.to_dict()["rows"]["written"] for m in report.members)
        quarantined = sum(m.reconciliation.to_dict()["rows"]["quarantined"] for m in report.members)
        record_delivery(lake, DEFAULT_SOURCE, delivery.billing_month, delivery.batch_ts, 1, written, quarantined)
        path.unlink()
    resources["warehouse"].create(objects_of("table") | objects_of("view", "alibaba_"))
    return resources, time.perf_counter() - started


def queries(latest_files: str, latest_both: list[str]) -> dict[str, str]:
    """The month query on each route (same result except the history, which sums every snapshot)."""
    quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in latest_both)
    return {
        "current view (alibaba_focus)": f"{SELECT} FROM alibaba_focus WHERE yearmonth = '{MONTH}' GROUP BY ALL",
        "all snapshots (alibaba_focus_history)": f"{SELECT} FROM alibaba_focus_history WHERE yearmonth = '{MONTH}' GROUP BY ALL",
        "latest partition's files (read_parquet)": f"{SELECT} FROM read_parquet('{latest_files}') GROUP BY ALL",
        "scalar subquery on batch_ts": (
            f"{SELECT} FROM focus_alibaba_normalized WHERE yearmonth = '{MONTH}' AND batch_ts = "
            f"(SELECT max(batch_ts) FROM alibaba_deliveries WHERE yearmonth = '{MONTH}') GROUP BY ALL"
        ),
        "current view, every month (no yearmonth filter)": "SELECT yearmonth, ServiceName, BillingCurrency, sum(BilledCost) AS billed FROM alibaba_focus GROUP BY ALL",
        # Over dynamic_or_filter_threshold (50) distinct values, DuckDB pushes a min/max range instead of an
        # IN list: what the view does with more than 50 billing months of history, simulated at 1.
        "same, dynamic_or_filter_threshold = 1": "SET dynamic_or_filter_threshold = 1; "
        "SELECT yearmonth, ServiceName, BillingCurrency, sum(BilledCost) AS billed FROM alibaba_focus GROUP BY ALL",
        "latest files of every month (read_parquet)": f"SELECT yearmonth, ServiceName, BillingCurrency, sum(BilledCost) AS billed FROM read_parquet([{quoted}], "
        "hive_partitioning = true) GROUP BY ALL",
    }


def _walk(node: dict):
    yield node
    for child in node.get("children", []):
        yield from _walk(child)


def profile(database: str, sql: str, output: Path) -> dict:
    """One run with DuckDB's JSON profiler, on a fresh connection."""
    with duckdb.connect(database, read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("PRAGMA enable_profiling = 'json'")
        connection.execute("SET profiling_mode = 'detailed'")
        connection.execute(f"SET profiling_output = '{output.as_posix()}'")
        connection.execute(sql).fetchall()
        connection.execute("PRAGMA disable_profiling")
    report = json.loads(output.read_text())
    query = report["query"]
    files_opened, files_listed = 0, 0
    for operator in report["operator"]:
        for node in _walk(operator):
            info = node.get("extra_info") or {}
            if node.get("type") == "TABLE_SCAN" and "alibaba_deliveries" not in str(info.get("Filename(s)", "")):
                files_opened += int(info.get("Total Files Read", 0))
                files_listed += int(str(info.get("Scanning Files", "0/0")).split("/")[-1] or 0)
    return {
        "bytes read (io)": report["io"]["total_bytes_read"],
        "bytes scanned": query["total_bytes_scanned"],
        "rows scanned": query["total_rows_scanned"],
        "row groups scanned": query["total_row_groups_scanned"],
        "row groups to scan": query["total_row_groups_to_scan"],
        "lake files opened": files_opened,
    }


def wall_time(database: str, sql: str, repeat: int) -> tuple[float, list]:
    with duckdb.connect(database, read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        rows = connection.execute(sql).fetchall()  # warm-up
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            connection.execute(sql).fetchall()
            times.append(time.perf_counter() - started)
    return statistics.median(times), rows


def layout(files: list[Path]) -> dict:
    """File size, row groups and statistics of a partition, and whether its rows are in order."""
    out = {}
    for path in files:
        meta = pq.ParquetFile(path).metadata
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        groups = [meta.row_group(i) for i in range(meta.num_row_groups)]
        stats = {}
        for column in ("ChargePeriodStart", "ServiceName"):
            index = names.index(column)
            chunks = [g.column(index).statistics for g in groups]
            stats[column] = {
                "min/max in every row group": all(s is not None and s.has_min_max for s in chunks),
                "per row group": [[str(s.min), str(s.max)] for s in chunks if s is not None and s.has_min_max],
            }
        frame = pl.read_parquet(path, columns=["ChargePeriodStart", "ServiceName", "BillingAccountId"])
        out[path.name] = {
            "bytes": path.stat().st_size,
            "rows": meta.num_rows,
            "columns": meta.num_columns,
            "row groups": meta.num_row_groups,
            "rows per group": [g.num_rows for g in groups],
            "compression": groups[0].column(0).compression,
            "declared sorting_columns": [str(c) for c in (groups[0].sorting_columns or ())],
            "statistics": stats,
            "rows sorted by": {c: frame[c].is_sorted() for c in frame.columns},
            "created_by": meta.created_by,
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=10, help="daily snapshots of January 2026")
    parser.add_argument("--rows-per-day", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not 1 <= args.days <= 30:
        parser.error("--days: 1 to 30 (one month)")
    with tempfile.TemporaryDirectory(prefix="focus-query-cost-") as folder:
        home = Path(folder)
        resources, build_seconds = build(home, args.days, args.rows_per_day)
        warehouse, lake = resources["warehouse"], Path(resources["lake"].root)
        snapshots = deliveries(args.days)
        latest = partition_dir(lake, OUTPUT_TABLE, MONTH, snapshots[-1].batch_ts)
        latest_files = sorted(latest.glob("*.parquet"))
        latest_both = [
            p.as_posix()
            for p in sorted(partition_dir(lake, OUTPUT_TABLE, "202512", snapshots[0].batch_ts).glob("*.parquet"))
        ] + [p.as_posix() for p in latest_files]
        month_files = sorted((lake / OUTPUT_TABLE / f"yearmonth={MONTH}").rglob("*.parquet"))
        print(
            f"{args.days} daily snapshots of {MONTH} (the last with {args.days * args.rows_per_day:,} rows) and the "
            f"final 202512 file, built in {build_seconds:.1f} s; {len(month_files)} files, "
            f"{sum(p.stat().st_size for p in month_files) / 1e6:.1f} MB in yearmonth={MONTH} "
            f"(DuckDB {duckdb.__version__}, {os.cpu_count()} cores, Python {platform.python_version()})"
        )
        figures, results = {}, {}
        for name, sql in queries((latest / "*.parquet").as_posix(), latest_both).items():
            seconds, rows = wall_time(warehouse.database, sql, args.repeat)
            figures[name] = {
                "sql": sql,
                "median seconds": round(seconds, 4),
                **profile(warehouse.database, sql, home / "profile.json"),
            }
            results[name] = sorted(tuple(str(v) for v in row) for row in rows)
        partition_layout = layout(latest_files)
    names = list(figures)
    current, history, direct, scalar = (figures[n] for n in names[:4])
    same = (
        results[names[0]] == results[names[2]] == results[names[3]]
        and results[names[4]] == results[names[5]] == results[names[6]]
    )
    print(f"\n{'query':<49}{'median':>9}{'read (io)':>12}{'scanned':>11}{'rows':>11}{'row groups':>12}{'files':>7}")
    for name, f in figures.items():
        print(
            f"{name:<49}{f['median seconds'] * 1000:>6.1f} ms{f['bytes read (io)'] / 1e6:>9.1f} MB"
            f"{f['bytes scanned'] / 1e6:>8.1f} MB{f['rows scanned']:>11,}"
            f"{f['row groups scanned']:>6}/{f['row groups to scan']:<5}{f['lake files opened']:>7}"
        )
    print("\nlatest partition:")
    for file_name, facts in partition_layout.items():
        print(
            f"  {file_name}: {facts['bytes'] / 1e6:.1f} MB, {facts['rows']:,} rows, {facts['columns']} columns, "
            f"{facts['row groups']} row groups of {facts['rows per group']} rows, {facts['compression']}"
        )
        for column, s in facts["statistics"].items():
            print(f"    {column}: min/max in every row group: {s['min/max in every row group']}")
        print(
            f"    declared sorting_columns: {facts['declared sorting_columns'] or 'none'}; "
            f"rows in order of: {facts['rows sorted by']}"
        )
    pruned = current["lake files opened"] == direct["lake files opened"]
    print(f"\nSame result on the current view, the latest files and the scalar subquery: {same}")
    print(
        f"Current view vs all snapshots: {history['bytes read (io)'] / max(current['bytes read (io)'], 1):.1f}x "
        f"fewer bytes read, {history['rows scanned'] / max(current['rows scanned'], 1):.1f}x fewer rows, "
        f"{history['median seconds'] / current['median seconds']:.1f}x faster. The current view "
        + (
            "opens only the latest batch's files (join filter on batch_ts pushed into the scan)"
            if pruned
            else f"opens {current['lake files opened']} files, the latest partition has {direct['lake files opened']}"
        )
        + f"; vs the files read directly: {current['bytes read (io)'] / max(direct['bytes read (io)'], 1):.2f}x the bytes, "
        f"{current['median seconds'] / direct['median seconds']:.2f}x the time; "
        f"scalar subquery: {scalar['bytes read (io)'] / max(current['bytes read (io)'], 1):.2f}x the view's bytes."
    )
    every, ranged, every_direct = (figures[n] for n in names[4:7])
    print(
        f"Every month through the current view: {every['lake files opened']} files opened (footers), "
        f"{every['rows scanned']:,} rows scanned vs {every_direct['rows scanned']:,} in the latest files "
        f"({every['bytes read (io)'] / max(every_direct['bytes read (io)'], 1):.2f}x the bytes); with a range filter "
        f"instead of an IN list (over 50 months): {ranged['rows scanned']:,} rows, "
        f"{ranged['bytes read (io)'] / max(every_direct['bytes read (io)'], 1):.2f}x the bytes."
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "duckdb": duckdb.__version__,
                "platform": platform.platform(),
                "days": args.days,
                "rows_per_day": args.rows_per_day,
                "repeat": args.repeat,
                "build seconds": round(build_seconds, 1),
                "files in yearmonth": len(month_files),
                "same result": same,
                "queries": figures,
                "latest partition": partition_layout,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
