"""`python -m focus_assets.conformance` (`make conformance`): validate the warehouse's views with
focus-validator, write the report (FOCUS_HOME/conformance/report.md, with the Parquet files and the
validator's XML reports beside it) and print it. Exit status 1 when a failure is attributed to the
pipeline or a dataset could not be validated, 2 when the validator is missing."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb

from . import ConformanceResult, run_conformance
from .validator import ENV_VAR, ValidatorFailed, ValidatorMissing


def main(argv: list[str] | None = None) -> int:
    return run(argv)[0]


def run(argv: list[str] | None = None) -> tuple[int, ConformanceResult | None]:
    """What `main` does, returning the result as well as the exit status (None when nothing was
    validated)."""
    home = Path(os.environ.get("FOCUS_HOME", ".focus"))
    parser = argparse.ArgumentParser(prog="python -m focus_assets.conformance", description=__doc__)
    parser.add_argument(
        "--database",
        type=Path,
        default=home / "warehouse.duckdb",
        help="the DuckDB warehouse (default: FOCUS_HOME/warehouse.duckdb)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=home / "conformance",
        help="where the report and its files go (default: FOCUS_HOME/conformance)",
    )
    parser.add_argument(
        "--validator",
        type=Path,
        default=None,
        help=f"the focus-validator script (default: {ENV_VAR}, else .venv-validator/bin/focus-validator)",
    )
    parser.add_argument("--processes", type=int, default=2, help="validator processes in parallel (default 2)")
    args = parser.parse_args(argv)
    if not args.database.is_file():
        print(f"{args.database} does not exist: run `make demo` (or the pipeline) first", file=sys.stderr)
        return 2, None
    try:
        result = run_conformance(args.database, args.out / "files", validator=args.validator, processes=args.processes)
    except ValidatorMissing as exc:
        print(exc, file=sys.stderr)
        return 2, None
    except ValidatorFailed as exc:
        print(f"focus-validator failed: {exc}", file=sys.stderr)
        return 1, None
    except duckdb.Error as exc:  # e.g. a source file a view reads is gone
        print(f"reading {args.database} failed: {exc}", file=sys.stderr)
        return 1, None
    report = result.markdown()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"Written to {args.out / 'report.md'}")
    return (1 if result.severity == "error" else 0), result


if __name__ == "__main__":
    sys.exit(main())
