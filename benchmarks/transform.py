"""Speed and memory of the transform, beside two baselines on the same file, in one run.

    python benchmarks/transform.py [--rows 1000000] [--repeat 1]

Generates an Alibaba-shaped gzip export of N rows (cached in benchmarks/.data), then runs, each in
its own process so that peak memory is that process's own:

  focus-assets convert   the full transform: typing, tags, repairs, quarantine, reconciliation
  polars copy            pl.scan_csv(file).sink_parquet(...): CSV to Parquet, types inferred
  duckdb copy            COPY (SELECT * FROM read_csv(file)) TO ... (FORMAT parquet)

and prints wall time, rows per second and peak resident memory (ru_maxrss) of each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

GENERATE = """
import sys
from focus_assets.samples.alibaba import write_large_export
write_large_export(sys.argv[1], int(sys.argv[2]))
"""
POLARS_COPY = """
import sys, polars as pl
pl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2], compression="snappy")
"""
DUCKDB_COPY = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def measure(command: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command, from its own resource usage. Everything heavy
    runs in children, so that no child inherits a large parent's memory at fork."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine; the fastest is shown")
    parser.add_argument("--data", type=Path, default=HERE / ".data")
    args = parser.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    export = args.data / f"export-{args.rows}.csv.gz"
    if not export.exists():
        print(f"generating {args.rows:,} rows -> {export}", flush=True)
        subprocess.run([sys.executable, "-c", GENERATE, str(export.with_suffix(".tmp")), str(args.rows)],
                       check=True, cwd=HERE.parent)
        export.with_suffix(".tmp").rename(export)
    bucket = args.data / f"bucket-{args.rows}"
    key_dir = bucket / "202601" / "20260129T080000"  # the key carries month and stamp
    key_dir.mkdir(parents=True, exist_ok=True)
    source = key_dir / export.name
    if not source.exists():
        os.link(export, source)
    out = args.data / "out"
    python = sys.executable
    focus_cli = [python, "-m", "focus_assets.cli", "convert", str(bucket), "--out", str(out / "focus")]
    engines = {
        "focus-assets convert": focus_cli,
        "polars copy": [python, "-c", POLARS_COPY, str(export), str(out / "polars.parquet")],
        "duckdb copy": [python, "-c", DUCKDB_COPY, str(export), str(out / "duckdb.parquet")],
    }

    print(f"\n{args.rows:,} rows, {export.stat().st_size / 1e6:.0f} MB gzip, {os.cpu_count()} cores\n")
    print(f"{'':<22}{'seconds':>9}{'rows/s':>12}{'peak MB':>9}")
    results = {}
    for name, command in engines.items():
        runs = []
        for _ in range(args.repeat):
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            runs.append(measure(command))
        seconds, peak = min(runs)
        results[name] = seconds
        print(f"{name:<22}{seconds:>9.2f}{args.rows / seconds:>12,.0f}{peak:>9.0f}", flush=True)
    ratio = results["focus-assets convert"] / results["duckdb copy"]
    print(f"\nfocus-assets convert takes {ratio:.2f}x the time of DuckDB's plain copy "
          f"({'faster' if ratio < 1 else 'slower'}); target: no slower, and under 1 GB at 5,000,000 rows.")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
