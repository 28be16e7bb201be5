"""Speed and memory of the transform on each shape of input, beside two plain copies of the same file.

    python benchmarks/transform.py [--rows 1000000] [--repeat 3] [--shape NAME ...| --shapes all]
                                   [--no-shares] [--stages] [--per-core] [--wait-for-load 0.7]

For each shape (focus_assets.samples.alibaba.SHAPES: the project's own export, money in E-notation
or padded with zeros, quoted fields with line breaks, long unicode or many distinct tags, mixed
timestamp spellings, all of them at once) it generates an export of N rows as gzip (cached in
benchmarks/.data), then runs, each in its own process so that peak memory is that process's own,
and in interleaved rounds (one run of every engine on every shape per round, so that a busy moment
of a shared machine hits them all alike):

  focus-assets convert    the full transform: typing, tags, repairs, quarantine, reconciliation
  convert, polars reader  the same with the C CSV reader switched off (as installed without a C
                          compiler): its share of the convert's time
  polars copy             pl.scan_csv(file, infer_schema=False).sink_parquet(...): every column as text
  duckdb copy             COPY (SELECT * FROM read_csv(file, all_varchar=true)) TO ... (FORMAT parquet)

Every engine must read every row of the file (checked: rows written, plus quarantined for the
convert). It prints, per shape and engine, the median wall time of the rounds, the median CPU time
(user + system), the highest peak resident memory (ru_maxrss) and what was written; the convert's
time against each copy's (target: within 1.25x of polars' copy, under 1 GB) and what the C reader
saves (kept where it saves at least 10% of the convert's wall time). `--no-shares` leaves out
the convert without it. `--stages` also times the transform's stages one after the other on
one thread, beside both copies on one thread; `--per-core` runs the convert pinned to one core
too. `--wait-for-load` waits (up to 45 minutes) until the 1-minute load average is below the given
value before measuring. Writes benchmarks/results/transform-<rows>.json, with the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from focus_assets.samples.alibaba import SHAPES  # noqa: E402

STAGE_NAMES = ("decompress and cut", "parse", "type", "encode")
ONE_THREAD = {"POLARS_MAX_THREADS": "1"}
CONVERT, POLARS_READER = "focus-assets convert", "convert, polars reader"
POLARS_COPY, DUCKDB_COPY = "polars copy", "duckdb copy"
TARGET_VERSUS_POLARS, TARGET_PEAK_MB, KEEP_SHARE = 1.25, 1024, 0.10

GENERATE = """
import sys
from focus_assets.samples.alibaba import SHAPES, write_large_export
write_large_export(sys.argv[1], int(sys.argv[2]), shape=SHAPES[sys.argv[3]])
"""
# The convert with one piece of machinery switched off, to measure what it saves.
WITHOUT = """
import sys
from focus_assets.focus import source
if sys.argv[1] == "c-reader":
    source._records = None  # as installed without a C compiler: polars' reader parses every piece
else:
    raise SystemExit(f"nothing to switch off called {sys.argv[1]!r}")
from focus_assets.cli import main
sys.exit(main(sys.argv[2:]))
"""
POLARS_COPY_SCRIPT = """
import sys, polars as pl
pl.scan_csv(sys.argv[1], infer_schema=False).sink_parquet(sys.argv[2], compression="snappy")
"""
DUCKDB_COPY_SCRIPT = """
import sys, duckdb
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if len(sys.argv) > 3:
    con.execute(f"SET threads = {int(sys.argv[3])}")
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}', all_varchar=true)) TO '{sys.argv[2]}' (FORMAT parquet)")
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
    # The C reader also types the money columns (their casts move from "type" to here) and lists
    # the distinct timestamps, tags and names (which "type" then maps by key).
    records = read_records(piece, list(member.header.names), member.name, null_literals=True,
                           decimal_columns=member.header.decimal_columns,
                           dictionary_columns=member.header.dictionary_columns)
    timed("parse", started)
    started = time.process_time()
    ending_in_break = records.text.height - (0 if piece.ends_with_line_break else 1)
    typed.append(normalize_batch(records.text, source, piece.first_line, settings,
                                 embedded_line_breaks=piece.line_breaks != ending_in_break, line_breaks=records.line_breaks,
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
    """Wall seconds, CPU seconds, peak RSS (MB), output size (MB) and rows written (with the
    quarantined ones) of one command, from its own resource usage; with `cores`, the command may
    run on that many of this machine's cores only (polars sizes its thread pool to them).
    Everything heavy runs in children, so that no child inherits a large parent's memory at fork."""
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    pinned = set(sorted(os.sched_getaffinity(0))[:cores]) if cores else None
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        preexec_fn=(lambda: os.sched_setaffinity(0, pinned)) if pinned else None,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(command)}\n{process.stderr.read().decode()}")
    files = [f for f in output.rglob("*.parquet")]
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_mb": round(usage.ru_maxrss / 1024),
        "parquet_mb": round(sum(f.stat().st_size for f in files) / 1e6, 1),
        "rows": sum(pq.read_metadata(f).num_rows for f in files),
    }


def summary(runs: list[dict]) -> dict:
    """The rounds of one engine: median wall and CPU time, the highest peak, what was written."""
    return {
        "seconds": round(statistics.median(r["seconds"] for r in runs), 2),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
        "peak_mb": max(r["peak_mb"] for r in runs),
        "parquet_mb": runs[0]["parquet_mb"],
        "rows": runs[0]["rows"],
    }


def wait_for_load(limit: float, poll_seconds: int = 30, patience_seconds: int = 45 * 60) -> None:
    """Wait until the 1-minute load average is below `limit` (or `patience_seconds` have passed)."""
    waited = 0
    while os.getloadavg()[0] >= limit and waited < patience_seconds:
        print(f"load average {os.getloadavg()[0]:.2f} >= {limit}: waiting", flush=True)
        time.sleep(poll_seconds)
        waited += poll_seconds


def export_file(data: Path, shape: str, rows: int) -> Path:
    """The shape's export of `rows` rows, generated once (in a child, for its memory)."""
    export = data / f"export-{shape}-{rows}.csv.gz"
    if not export.exists():
        print(f"generating {shape}, {rows:,} rows -> {export}", flush=True)
        subprocess.run(
            [sys.executable, "-c", GENERATE, str(export.with_suffix(".tmp")), str(rows), shape],
            check=True,
            cwd=HERE.parent,
        )
        export.with_suffix(".tmp").rename(export)
    return export


def engines_for(export: Path, bucket: Path, out: Path, shares: bool) -> dict[str, list[str]]:
    key_dir = bucket / "202601" / "20260129T080000"  # the key carries month and stamp
    key_dir.mkdir(parents=True, exist_ok=True)
    source = key_dir / export.name
    if not source.exists():
        os.link(export, source)
    python, convert = sys.executable, ["convert", str(bucket), "--out", str(out)]
    engines = {CONVERT: [python, "-m", "focus_assets.cli", *convert]}
    if shares:
        engines[POLARS_READER] = [python, "-c", WITHOUT, "c-reader", *convert]
    engines[POLARS_COPY] = [python, "-c", POLARS_COPY_SCRIPT, str(export), str(out / "polars.parquet")]
    engines[DUCKDB_COPY] = [python, "-c", DUCKDB_COPY_SCRIPT, str(export), str(out / "duckdb.parquet")]
    return engines


def stages_of(export: Path, out: Path, engines: dict[str, list[str]]) -> dict:
    """CPU seconds of each stage, one after the other on one thread, and of each copy on one thread."""
    completed = subprocess.run(
        [sys.executable, "-c", STAGES, str(export), str(out / "stages.parquet")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **ONE_THREAD},
    )
    stages = json.loads(completed.stdout)
    by_kind = {kind: round(seconds, 2) for kind, seconds in stages.pop("encode by kind of column").items()}
    stages = {stage: round(seconds, 2) for stage, seconds in stages.items()}
    stages[POLARS_COPY] = measure(engines[POLARS_COPY], out, ONE_THREAD)["cpu_seconds"]
    stages[DUCKDB_COPY] = measure([*engines[DUCKDB_COPY], "1"], out)["cpu_seconds"]  # argument: threads
    print("  the transform's stages, one after the other on one thread (CPU seconds):")
    for stage in STAGE_NAMES:
        print(f"    {stage:<20}{stages[stage]:>7.2f}")
    transform = sum(stages[stage] for stage in STAGE_NAMES)
    print(f"    {'in all':<20}{transform:>7.2f}   (parse + encode alone: {stages['parse'] + stages['encode']:.2f})")
    print(f"  the copies on one thread: polars {stages[POLARS_COPY]:.2f}, duckdb {stages[DUCKDB_COPY]:.2f} CPU s")
    print("  encoding each kind of output column on its own (columns; CPU seconds):")
    for kind, seconds in sorted(by_kind.items(), key=lambda item: -item[1]):
        print(f"    {kind:<26}{seconds:>7.2f}")
    stages["encode by kind of column"] = by_kind
    return stages


def report(shape: str, rows: int, gzip_mb: float, runs: dict[str, list[dict]]) -> dict:
    """Print one shape's lines and return its results."""
    medians = {name: summary(measured) for name, measured in runs.items()}
    for name, run in medians.items():
        if run["rows"] != rows:  # each engine read the whole file
            raise SystemExit(f"{shape}: {name} wrote {run['rows']:,} rows of {rows:,}")
    mine = medians[CONVERT]
    versus = {copy: round(mine["seconds"] / medians[copy]["seconds"], 2) for copy in (POLARS_COPY, DUCKDB_COPY)}
    # Round by round, against the copy of the same round.
    rounds = [round(c["seconds"] / p["seconds"], 2) for c, p in zip(runs[CONVERT], runs[POLARS_COPY], strict=True)]
    meets = versus[POLARS_COPY] <= TARGET_VERSUS_POLARS and mine["peak_mb"] < TARGET_PEAK_MB
    print(f"\n{shape} ({gzip_mb:.0f} MB gzip)")
    print(f"  {'':<24}{'seconds':>9}{'CPU s':>8}{'rows/s':>11}{'peak MB':>9}{'Parquet MB':>12}")
    for name, run in medians.items():
        print(
            f"  {name:<24}{run['seconds']:>9.2f}{run['cpu_seconds']:>8.2f}{rows / run['seconds']:>11,.0f}"
            f"{run['peak_mb']:>9}{run['parquet_mb']:>12.1f}"
        )
    print(
        f"  convert: {versus[POLARS_COPY]:.2f}x polars' copy (rounds {', '.join(map(str, rounds))}), "
        f"{versus[DUCKDB_COPY]:.2f}x DuckDB's; target {TARGET_VERSUS_POLARS}x and under {TARGET_PEAK_MB} MB: "
        f"{'met' if meets else 'MISSED'}"
    )
    shares = {}
    for name, machinery in ((POLARS_READER, "C reader"),):
        if name in medians:
            shares[machinery] = round(1 - mine["seconds"] / medians[name]["seconds"], 3)
            print(
                f"  the {machinery} saves {shares[machinery]:.1%} of the convert's wall time "
                f"({'keep' if shares[machinery] >= KEEP_SHARE else 'below'} {KEEP_SHARE:.0%})"
            )
    return {
        "gzip_mb": gzip_mb,
        "medians": medians,
        "all_runs": runs,
        "versus": versus,
        "versus_polars_by_round": rounds,
        "meets_target": meets,
        "saves": shares,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; each engine's median is shown")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), help="a shape to measure (repeatable)")
    parser.add_argument("--shapes", choices=["all"], help="every shape")
    parser.add_argument("--no-shares", action="store_true", help="leave out the convert without the C reader")
    parser.add_argument("--stages", action="store_true", help="also time the transform's stages on one thread")
    parser.add_argument("--per-core", action="store_true", help="also run the convert pinned to one core")
    parser.add_argument("--wait-for-load", type=float, help="first wait until the 1-minute load average is below this")
    parser.add_argument("--data", type=Path, default=HERE / ".data")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where transform-<rows>.json goes")
    args = parser.parse_args()
    shapes = list(SHAPES) if args.shapes == "all" else (args.shape or ["plain"])

    args.data.mkdir(parents=True, exist_ok=True)
    exports = {shape: export_file(args.data, shape, args.rows) for shape in shapes}
    out = args.data / "out"
    engines = {
        shape: engines_for(export, args.data / f"bucket-{shape}-{args.rows}", out, not args.no_shares)
        for shape, export in exports.items()
    }
    one_core = "convert on 1 core"
    if args.wait_for_load is not None:
        wait_for_load(args.wait_for_load)
    load_before = os.getloadavg()
    print(
        f"\n{args.rows:,} rows, {os.cpu_count()} cores, median of {args.repeat} rounds, "
        f"load average {load_before[0]:.2f}",
        flush=True,
    )

    runs: dict[str, dict[str, list[dict]]] = {shape: {name: [] for name in engines[shape]} for shape in shapes}
    for _ in range(args.repeat):
        for shape in shapes:
            for name, command in engines[shape].items():
                runs[shape][name].append(measure(command, out))
            if args.per_core:
                runs[shape].setdefault(one_core, []).append(measure(engines[shape][CONVERT], out, cores=1))
    load_after = os.getloadavg()

    results = {}
    for shape in shapes:
        results[shape] = report(shape, args.rows, round(exports[shape].stat().st_size / 1e6, 1), runs[shape])
        if args.per_core:
            alone, mine = results[shape]["medians"][one_core]["seconds"], results[shape]["medians"][CONVERT]["seconds"]
            results[shape]["per_core"] = {
                "rows_per_second_one_core": round(args.rows / alone),
                "speedup_all_cores": round(alone / mine, 2),
            }
            print(
                f"  on one core the convert types {args.rows / alone:,.0f} rows/s; with all "
                f"{len(os.sched_getaffinity(0))} cores it is {alone / mine:.2f}x faster"
            )
        if args.stages:
            results[shape]["stages_cpu_seconds_one_thread"] = stages_of(exports[shape], out, engines[shape])
    shutil.rmtree(out, ignore_errors=True)
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after")

    versions = subprocess.run(
        [sys.executable, "-c", "import polars, duckdb; print(polars.__version__, duckdb.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    path = args.results / f"transform-{args.rows}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "polars": versions[0],
                "duckdb": versions[1],
                "rows": args.rows,
                "rounds": args.repeat,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                "target": {
                    "versus_polars_copy": TARGET_VERSUS_POLARS,
                    "peak_mb_below": TARGET_PEAK_MB,
                    "keep_machinery_saving_at_least": KEEP_SHARE,
                },
                "shapes": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
