"""The tables of docs/performance.md, printed from the figures in benchmarks/results/.

    python benchmarks/report.py

Each table is printed under the heading it has in docs/performance.md; test_docs.py holds the
docs to these tables, so the figures there are the committed results, never typed by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CONVERT, POLARS_COPY, DUCKDB_COPY = "focus-assets convert", "polars copy", "duckdb copy"


def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _shape_rows(rows: int, result: dict) -> list[str]:
    lines = []
    for shape, figures in result["shapes"].items():
        medians, versus = figures["medians"], figures["versus"]
        verdict = (
            "met"
            if figures["meets_target"]
            else f"missed by {versus[POLARS_COPY] / result['target']['versus_polars_copy'] - 1:.0%}"
        )
        lines.append(
            f"| {rows:,} | {shape} | {figures['gzip_mb']:.0f} | {medians[CONVERT]['seconds']:.2f} | "
            f"{medians[POLARS_COPY]['seconds']:.2f} | {medians[DUCKDB_COPY]['seconds']:.2f} | "
            f"{versus[POLARS_COPY]:.2f}x | {versus[DUCKDB_COPY]:.2f}x | {medians[CONVERT]['peak_mb']:,} | "
            f"{verdict} |"
        )
    return lines


def shapes_table(sizes: tuple[int, ...] = (1_000_000, 5_000_000)) -> str:
    lines = [
        "| rows | shape | gzip MB | convert s | polars copy s | DuckDB copy s | vs polars | vs DuckDB "
        "| convert peak MB | target |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for rows in sizes:
        lines += _shape_rows(rows, load(f"transform-{rows}.json"))
    return "\n".join(lines)


def _saving_table(results_file: str, without: str, machinery: str, header: str) -> str:
    """Per shape: the convert, the convert `without` the machinery, and the share it saves."""
    lines = [header, "| --- | ---: | ---: | ---: |"]
    for shape, figures in load(results_file)["shapes"].items():
        medians = figures["medians"]
        lines.append(
            f"| {shape} | {medians[CONVERT]['seconds']:.2f} | {medians[without]['seconds']:.2f} | "
            f"{figures['saves'][machinery]:.1%} |"
        )
    return "\n".join(lines)


def c_reader_table(rows: int = 1_000_000) -> str:
    return _saving_table(
        f"transform-{rows}.json",
        "convert, polars reader",
        "C reader",
        "| shape | convert s | with polars' reader s | the C reader saves |",
    )


def buffer_pool_table() -> str:
    """The run that decided the piece-buffer pool's removal (kept in results/ as the evidence)."""
    return _saving_table(
        "transform-1000000-buffer-pool.json",
        "convert, no pool",
        "buffer pool",
        "| shape | convert with the pool s | without s | the pool saves |",
    )


def catch_up_table() -> str:
    result = load("catch_up.json")
    lines = ["| way | runs | seconds | rows typed | current CNY BilledCost |", "| --- | ---: | ---: | ---: | ---: |"]
    runs = {
        "one run per day": result["days"],
        "one run per day, catch-up": result["days"],
        "one run for the range": 1,
        "newest snapshot alone": 1,
    }
    for way, count in runs.items():
        if way in result:
            figures = result[way]
            lines.append(
                f"| {way} | {count} | {figures['seconds']:.1f} | {figures['rows typed']:,} | "
                f"{figures['current CNY BilledCost']} |"
            )
    return "\n".join(lines)


def day_run_table() -> str:
    days = load("incremental.json")["day_runs"]
    lines = [
        "| requests of a day's run | " + " | ".join(f"day {row['day']:,}" for row in days) + " |",
        "| --- |" + " ---: |" * len(days),
    ]
    for operation in sorted({op for row in days for op in row["requests"]}):
        lines.append(f"| {operation} | " + " | ".join(str(row["requests"].get(operation, 0)) for row in days) + " |")
    lines.append("| all requests | " + " | ".join(str(row["total"]) for row in days) + " |")
    return "\n".join(lines)


TABLES = {
    "Every input shape": shapes_table,
    "What the C reader saves": c_reader_table,
    "The piece-buffer pool, measured and removed": buffer_pool_table,
    "A backfill is one run": catch_up_table,
    "A day's run reads only that day": day_run_table,
}


def main() -> None:
    for heading, table in TABLES.items():
        print(f"## {heading}\n\n{table()}\n")


if __name__ == "__main__":
    main()
