"""Runs that are killed, repeated, overlap or come out of order, on the local deployment.

A run killed with SIGKILL while copying, while writing Parquet, or between publishing two
deliveries: the views never show a half-written or doubled month, and running the day again ends
byte for byte where a clean run ends, with no staging leftovers. Two backfills over overlapping
days, at the same time, end as one clean backfill; a delivery that arrives after a later one of
the same month never becomes current."""

import signal
import subprocess
import sys
import zipfile

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_resources
from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .helpers import KEY, csv_text, digests, write_export
from .test_dagster_local import materialize_day

BEFORE, KILLED = "2026-01-02", "2026-01-03"  # the killed day brings December's final file and a January snapshot
ALL_DAYS = [BEFORE, KILLED, "2026-01-04", "2026-01-05"]


def new_home(path):
    for delivery in sample_deliveries():
        write_delivery(path / "oss", delivery)
    return path


def current(resources) -> dict[str, tuple]:
    """Per billing month in the current view: (delivery, rows, BilledCost per currency)."""
    rows = resources["warehouse"].query(
        "SELECT yearmonth, batch_ts, count(*), array_sort(array_agg(DISTINCT BillingCurrency)), "
        "sum(BilledCost) FROM alibaba_focus GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return {month: (batch, count, tuple(currencies), str(cost)) for month, batch, count, currencies, cost in rows}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The reference: both days run without interruption."""
    home = new_home(tmp_path_factory.mktemp("clean"))
    resources = local_resources(home)
    materialize_day(resources, BEFORE)
    before = current(resources)
    materialize_day(resources, KILLED)
    after = current(resources)
    raw, lake = digests(home / "raw"), digests(home / "lake")
    for day in ALL_DAYS[2:]:
        materialize_day(resources, day)
    return {
        "before": before,
        "after": after,
        "raw": raw,
        "lake": lake,
        "all": current(resources),
        "all raw": digests(home / "raw"),
        "all lake": digests(home / "lake"),
    }


@pytest.mark.parametrize("point", ["copy", "parquet", "publish"])
def test_a_killed_run_shows_nothing_half_done_and_a_rerun_ends_as_a_clean_run(tmp_path, clean, point):
    home = new_home(tmp_path)
    resources = local_resources(home)
    materialize_day(resources, BEFORE)

    killed = subprocess.run(
        [sys.executable, "-m", "focus_assets_tests.child_run", str(home), KILLED, "--kill", point],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    seen = current(resources)
    if point == "publish":  # December's final delivery was published before the kill; January's was not
        assert seen == {**clean["before"], "202512": clean["after"]["202512"]}
    else:
        assert seen == clean["before"]
    leftovers = [p for p in home.rglob("*.staging")]
    if point != "publish":
        assert leftovers  # the kill did land mid-write

    materialize_day(resources, KILLED)
    assert current(resources) == clean["after"]
    assert digests(home / "raw") == clean["raw"]
    assert digests(home / "lake") == clean["lake"]
    assert not list(home.rglob("*.staging"))


def child(home, *arguments) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "focus_assets_tests.child_run", str(home), *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_overlapping_backfills_at_once_end_as_one_clean_backfill(tmp_path, clean):
    home = new_home(tmp_path)
    first, second = child(home, *ALL_DAYS[:3]), child(home, *ALL_DAYS[1:])  # 01-03 and 01-04 run twice, at once
    for process in (first, second):
        assert process.wait(timeout=600) == 0, process.stderr.read()[-2000:]
    assert current(local_resources(home)) == clean["all"]
    assert digests(home / "raw") == clean["all raw"]
    assert digests(home / "lake") == clean["all lake"]


def test_a_delivery_arriving_after_a_later_one_of_its_month_never_becomes_current(tmp_path, clean):
    deliveries = {d.batch_ts[:8]: d for d in sample_deliveries()}
    write_delivery(tmp_path / "oss", deliveries["20260105"])
    resources = local_resources(tmp_path)
    materialize_day(resources, "2026-01-05")
    write_delivery(tmp_path / "oss", deliveries["20260104"])  # the day before's delivery, late
    meta = materialize_day(resources, "2026-01-04")
    assert meta["athena_table"]["deliveries published"]  # published: it is history, not current
    assert current(resources)["202601"] == clean["all"]["202601"]
    history = resources["warehouse"].query(
        "SELECT DISTINCT batch_ts FROM alibaba_focus_history WHERE yearmonth = '202601'"
    )
    assert sorted(history) == [("20260104T070000",), ("20260105T080000",)]


def test_a_failing_rerun_of_a_published_day_leaves_the_lake_and_views_as_they_were(tmp_path):
    home = new_home(tmp_path)
    resources = local_resources(home)
    materialize_day(resources, "2026-01-05")
    lake, shown = digests(home / "lake"), current(resources)
    zip_key = next(d.key for d in sample_deliveries() if d.batch_ts.startswith("20260105"))
    with zipfile.ZipFile(home / "oss" / zip_key) as archive:  # re-delivered: its second member cut short
        members = [(name, archive.read(name)) for name in sorted(archive.namelist())]
    write_export(home / "oss" / zip_key, [members[0], (members[1][0], members[1][1][: len(members[1][1]) // 2])])
    result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources, raise_on_error=False)
    assert not result.success
    assert digests(home / "lake") == lake and current(resources) == shown


def test_a_redelivery_without_its_bad_row_leaves_no_stale_quarantine(tmp_path):
    resources = local_resources(tmp_path)
    path = tmp_path / "oss" / KEY
    write_export(path, csv_text([{"BilledCost": "1.00"}, {"BilledCost": "one"}]))
    first = materialize_day(resources, "2026-01-06")
    assert first["typed_focus_parquet"]["rows quarantined"] == 1
    write_export(path, csv_text([{"BilledCost": "1.00"}, {"BilledCost": "1.50"}]))  # the same key, corrected
    again = materialize_day(resources, "2026-01-06")
    assert again["typed_focus_parquet"]["rows quarantined"] == 0
    assert not list((tmp_path / "lake" / "focus_alibaba_quarantine").rglob("*.parquet"))
    assert resources["warehouse"].query("SELECT rows_written, rows_quarantined FROM alibaba_deliveries") == [(2, 0)]
