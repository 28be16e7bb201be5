"""What the FOCUS 1.2 derivations cost the convert: the same file converted with every derivation
on (the default) and off, in interleaved rounds, beside polars' plain copy of the file.

    python benchmarks/derivations.py [--rows 1000000] [--repeat 3] [--shape NAME ...]

Uses the exports, the measuring and the engines of benchmarks/transform.py (same cache in
benchmarks/.data). Writes benchmarks/results/derivations-<rows>.json: per shape, the median wall
and CPU seconds, peak memory and Parquet size of each engine, and the derivations' share.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
from datetime import date
from pathlib import Path

import transform  # benchmarks/transform.py, beside this file

OFF = [f"--derive={name}=off" for name in ("service_categories", "pricing_currency", "account_types")]
WITHOUT = "convert, derivations off"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shape", action="append", choices=sorted(transform.SHAPES))
    parser.add_argument("--data", type=Path, default=transform.HERE / ".data")
    parser.add_argument("--results", type=Path, default=transform.HERE / "results")
    args = parser.parse_args()
    shapes = args.shape or ["plain", "mixed"]
    args.data.mkdir(parents=True, exist_ok=True)
    out = args.data / "out"
    engines = {}
    for shape in shapes:
        export = transform.export_file(args.data, shape, args.rows)
        every = transform.engines_for(export, args.data / f"bucket-{shape}-{args.rows}", out, shares=False)
        engines[shape] = {
            transform.CONVERT: every[transform.CONVERT],
            WITHOUT: every[transform.CONVERT] + OFF,
            transform.POLARS_COPY: every[transform.POLARS_COPY],
        }
    load_before = os.getloadavg()
    runs = {shape: {name: [] for name in engines[shape]} for shape in shapes}
    for _ in range(args.repeat):
        for shape in shapes:
            for name, command in engines[shape].items():
                runs[shape][name].append(transform.measure(command, out))
    load_after = os.getloadavg()
    shutil.rmtree(out, ignore_errors=True)

    results = {}
    for shape in shapes:
        medians = {name: transform.summary(r) for name, r in runs[shape].items()}
        on, off = medians[transform.CONVERT], medians[WITHOUT]
        share = round(1 - off["seconds"] / on["seconds"], 3)
        results[shape] = {"medians": medians, "rounds": runs[shape], "derivations_share_of_wall": share}
        print(
            f"{shape}: convert {on['seconds']} s ({on['cpu_seconds']} CPU s, {on['peak_mb']} MB), "
            f"derivations off {off['seconds']} s ({off['cpu_seconds']} CPU s, {off['peak_mb']} MB): "
            f"{share:.1%} of the wall time; polars copy {medians[transform.POLARS_COPY]['seconds']} s"
        )
    path = args.results / f"derivations-{args.rows}.json"
    path.write_text(
        json.dumps(
            {
                "date": date.today().isoformat(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "rows": args.rows,
                "rounds": args.repeat,
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in load_after],
                "shapes": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
