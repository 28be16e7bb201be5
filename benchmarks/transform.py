"""Speed and memory of the transform, beside two baselines on the same file, in one run.

    python benchmarks/transform.py [--rows 1000000] [--repeat 3] [--stages] [--per-core]

Generates an Alibaba-shaped gzip export of N rows (cached in benchmarks/.data), then runs, each in
its own process so that peak memory is that process's own, and in rounds (one run of each engine
per round, so that a busy moment of a shared machine hits them all alike):

  focus-assets convert    the full transform: typing, tags, repairs, quarantine, reconciliation
  convert, polars reader  the same, with the C CSV reader switched off (as installed without a
                          C compiler): polars' reader parses, the typing casts every money column
  polars copy             pl.scan_csv(file).sink_parquet(...): CSV to Parquet, types inferred
  duckdb copy             COPY (SELECT * FROM read_csv(file)) TO ... (FORMAT parquet)

and prints each engine's best wall time, with the CPU time (user + system) and peak resident
memory (ru_maxrss) of that run and the size of what it wrote. `--stages` also times the
transform's stages one after the other on one thread, to show where the CPU goes, beside both
copies run on one thread: the floor that no rearrangement of the stages can go below is their
sum. ("parse" is the C reader, which also types the money columns of plain numbers.) `--per-core`
also runs the convert pinned to one core, in the same rounds, for the throughput of one core and
what a second adds (docs/scaling.md projects from it). Writes benchmarks/results/transform-<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAGE_NAMES = ("decompress and cut", "parse", "type", "encode")
ONE_THREAD = {"POLARS_MAX_THREADS": "1"}

GENERATE = """
import sys
from focus_assets.samples.alibaba import write_large_export
write_large_export(sys.argv[1], int(sys.argv[2]))
"""
# The same convert with the C reader switched off, as where the package was installed without a
# C compiler: polars' reader parses every piece and the typing casts every money column.
POLARS_READER = """
import sys
from focus_assets.focus import source
source._records = None
from focus_assets.cli import main
sys.exit(main(sys.argv[1:]))
"""
POLARS_COPY = """
import sys, polars as pl
pl.scan_csv(sys.argv[1]).sink_parquet(sys.argv[2], compression="snappy")
"""
DUCKDB_COPY = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if len(sys.argv) > 3:
    con.execute(f"SET threads = {int(sys.argv[3])}")
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


STAGES = """
import json, sys, time
from pathlib import Path
import polars as pl
from focus_assets.focus.normalize import BatchSource, normalize_batch, typed_schema
from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.source import read_csv_members, read_records
from focus_assets.focus.writer import write_frames

settings, typed = TransformSettings(), []
seconds = dict.fromkeys(("decompress and cut", "parse", "type", "encode"), 0.0)
schema, by_kind, groups = typed_schema(settings), {}, None
def timed(stage, started, into=seconds):
    into[stage] = into.get(stage, 0.0) + time.process_time() - started
def kinds(first):
    # Output columns by what encoding them involves: text is split by the first batch into
    # columns with one value (constants such as x_SourceObject, and empty columns) and the rest.
    groups = {}
    for name, dtype in schema.items():
        kind = type(dtype).__name__.lower()
        if kind == "string":
            kind = "text, one value" if first[name].n_unique() <= 1 else "text"
        groups.setdefault(kind, []).append(name)
    return groups
started = time.process_time()
member = next(read_csv_members(Path(sys.argv[1]), "202601/export.csv.gz", max_uncompressed_bytes=1 << 40))
pieces = list(member.pieces)
timed("decompress and cut", started)
source = BatchSource(member.object_key, None, "20260129T080000", member.header)
for number, piece in enumerate(pieces):
    started = time.process_time()
    # The C reader also types the money columns of plain numbers (their casts move from "type" to
    # here) and lists the distinct timestamps, tags and names (which "type" then maps by key).
    records = read_records(piece, list(member.header.names), member.name, null_literals=True,
                           decimal_columns=member.header.decimal_columns,
                           dictionary_columns=member.header.dictionary_columns)
    timed("parse", started)
    started = time.process_time()
    typed.append(normalize_batch(records.text, source, piece.first_line, settings, embedded_line_breaks=False,
                                 typed_decimals=records.decimals, dictionaries=records.dictionaries).good)
    timed("type", started)
    if len(typed) == 8 or number == len(pieces) - 1:  # the product's writer, on 8 batches at a time
        started = time.process_time()
        write_frames(iter(typed), Path(sys.argv[2]), schema, settings.row_group_rows)
        timed("encode", started)
        groups = groups or kinds(typed[0])
        for kind, columns in groups.items():  # the same batches again, one kind of column at a time
            started = time.process_time()
            write_frames((batch.select(columns) for batch in typed), Path(sys.argv[2]),
                         pl.Schema({c: schema[c] for c in columns}), settings.row_group_rows)
            timed(f"{kind} ({len(columns)})", started, by_kind)
        typed = []
print(json.dumps({**seconds, "encode by kind of column": by_kind}))
"""


def measure(command: list[str], output: Path, env: dict[str, str] | None = None, cores: int | None = None) -> dict:
    """Wall seconds, CPU seconds, peak RSS (MB) and output size (MB) of one command, from its own
    resource usage; with `cores`, the command may run on that many of this machine's cores only
    (polars sizes its thread pool to them). Everything heavy runs in children, so that no child
    inherits a large parent's memory at fork."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    pinned = set(sorted(os.sched_getaffinity(0))[:cores]) if cores else None
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                               preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    written = sum(f.stat().st_size for f in output.rglob("*.parquet"))
    return {"seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mb": round(usage.ru_maxrss / 1024), "parquet_mb": round(written / 1e6, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each engine's fastest run is shown")
    parser.add_argument("--stages", action="store_true", help="also time the transform's stages on one thread")
    parser.add_argument("--per-core", action="store_true", help="also run the convert pinned to one core")
    parser.add_argument("--data", type=Path, default=HERE / ".data")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where transform-<rows>.json goes")
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
    engines = {
        "focus-assets convert": [python, "-m", "focus_assets.cli", "convert", str(bucket), "--out", str(out)],
        "convert, polars reader": [python, "-c", POLARS_READER, "convert", str(bucket), "--out", str(out)],
        "polars copy": [python, "-c", POLARS_COPY, str(export), str(out / "polars.parquet")],
        "duckdb copy": [python, "-c", DUCKDB_COPY, str(export), str(out / "duckdb.parquet")],
    }

    print(f"\n{args.rows:,} rows, {export.stat().st_size / 1e6:.0f} MB gzip, {os.cpu_count()} cores, "
          f"best of {args.repeat} rounds\n")
    runs: dict[str, list[dict]] = {name: [] for name in engines}
    one_core = "convert on 1 core"
    if args.per_core:
        runs[one_core] = []
    for _ in range(args.repeat):
        for name, command in engines.items():
            runs[name].append(measure(command, out))
        if args.per_core:
            runs[one_core].append(measure(engines["focus-assets convert"], out, cores=1))
    best = {name: min(measured, key=lambda run: run["seconds"]) for name, measured in runs.items()}
    print(f"{'':<22}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'peak MB':>9}{'Parquet MB':>12}")
    for name, run in best.items():
        print(f"{name:<22}{run['seconds']:>9.2f}{run['cpu_seconds']:>8.2f}{args.rows / run['seconds']:>11,.0f}"
              f"{run['peak_mb']:>9}{run['parquet_mb']:>12.1f}")
    mine = best["focus-assets convert"]["seconds"]
    versus_duckdb, versus_polars = mine / best["duckdb copy"]["seconds"], mine / best["polars copy"]["seconds"]
    print(f"\nfocus-assets convert takes {versus_duckdb:.2f}x the time of DuckDB's plain copy (target: 1.00x or less)"
          f"\nand {versus_polars:.2f}x the time of polars' plain copy (target: 1.50x or less).")
    per_core = None
    if args.per_core:
        per_core = {"rows_per_second_one_core": round(args.rows / best[one_core]["seconds"]),
                    "speedup_all_cores": round(best[one_core]["seconds"] / mine, 2)}
        print(f"On one core the convert types {per_core['rows_per_second_one_core']:,} rows/s; with all "
              f"{len(os.sched_getaffinity(0))} cores it is {per_core['speedup_all_cores']:.2f}x faster.")

    stages = None
    if args.stages:
        completed = subprocess.run([python, "-c", STAGES, str(export), str(out / "stages.parquet")], check=True,
                                   capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
        stages = json.loads(completed.stdout)
        by_kind = {kind: round(seconds, 2) for kind, seconds in stages.pop("encode by kind of column").items()}
        stages = {stage: round(seconds, 2) for stage, seconds in stages.items()}
        stages["polars copy"] = measure(engines["polars copy"], out, ONE_THREAD)["cpu_seconds"]
        stages["duckdb copy"] = measure([*engines["duckdb copy"], "1"], out)["cpu_seconds"]  # argument: threads
        print("\nthe transform's stages, one after the other on one thread (CPU seconds):")
        for stage in STAGE_NAMES:
            print(f"  {stage:<20}{stages[stage]:>7.2f}")
        transform = sum(stages[stage] for stage in STAGE_NAMES)
        print(f"  {'in all':<20}{transform:>7.2f}   (parse + encode alone: {stages['parse'] + stages['encode']:.2f})")
        print(f"the copies on one thread: polars {stages['polars copy']:.2f}, duckdb {stages['duckdb copy']:.2f} CPU s")
        print("encoding each kind of output column on its own (columns; CPU seconds):")
        for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
            print(f"  {kind:<26}{seconds:>7.2f}")
        stages["encode by kind of column"] = by_kind
    shutil.rmtree(out, ignore_errors=True)

    results = args.results / f"transform-{args.rows}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({
        "date": date.today().isoformat(), "cores": os.cpu_count(), "python": platform.python_version(),
        "rows": args.rows, "gzip_mb": round(export.stat().st_size / 1e6), "rounds": args.repeat,
        "best": best, "all_runs": runs, "versus_duckdb": round(versus_duckdb, 2),
        "versus_polars": round(versus_polars, 2), "per_core": per_core, "stages_cpu_seconds_one_thread": stages,
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()
