"""Runs of delivery days on the local deployment in a process of their own, for the tests of
concurrent runs and of what a killed run leaves behind:

    python -m focus_assets_tests.child_run HOME DAY [DAY ...] [--kill copy|parquet|publish]

runs the days one after the other, like a backfill; with --kill, the run SIGKILLs itself at:

copy     halfway through copying the first export object into the raw bucket
parquet  while the first typed Parquet file is being written (its staging file has data)
publish  after the day's files are written and registered, before its second delivery is published
"""

import os
import shutil
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg

from focus_assets.alibaba import assets
from focus_assets.deployment import local_resources
from focus_assets.focus import publishing, transform, writer


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_while_copying() -> None:
    def copy_half_then_die(reader, target, length=0):
        data = reader.read()
        target.write(data[: len(data) // 2])
        target.flush()
        die()

    shutil.copyfileobj = copy_half_then_die


def kill_while_writing_parquet() -> None:
    original_settings = assets.ExportSettings.transform_settings
    # small pieces and row groups: the file is written in many steps
    assets.ExportSettings.transform_settings = lambda self, *args: replace(
        original_settings(self, *args), piece_bytes=4096, row_group_rows=16
    )
    write_frames = transform.write_frames

    def write_then_die(frames, path, schema, row_group_rows):
        staging = writer.staging_path(Path(path))

        def frames_then_die():
            for number, frame in enumerate(frames):
                if number == 4:
                    deadline = time.monotonic() + 10
                    while not (staging.exists() and staging.stat().st_size) and time.monotonic() < deadline:
                        time.sleep(0.01)
                    die()
                yield frame

        return write_frames(frames_then_die(), path, schema, row_group_rows)

    transform.write_frames = write_then_die


def kill_before_the_second_publication() -> None:
    record_delivery = publishing.record_delivery
    calls = []

    def record_then_die(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            die()
        return record_delivery(*args, **kwargs)

    publishing.record_delivery = record_then_die


KILL_POINTS = {
    "copy": kill_while_copying,
    "parquet": kill_while_writing_parquet,
    "publish": kill_before_the_second_publication,
}

if __name__ == "__main__":
    arguments = sys.argv[1:]
    point = None
    if "--kill" in arguments:
        point = arguments[arguments.index("--kill") + 1]
        arguments = arguments[: arguments.index("--kill")]
        KILL_POINTS[point]()
    home, *days = arguments
    for day in days:
        if not dg.materialize(assets.ASSETS, partition_key=day, resources=local_resources(Path(home))).success:
            sys.exit(f"{day} failed")
    if point:
        sys.exit("the run ended without being killed")
