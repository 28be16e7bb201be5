"""The sensor new_alibaba_deliveries, tick by tick, with a real folder store: on replayed past
deliveries, and on deliveries stamped now (the real clock) or at chosen instants around midnight
UTC+8 on the 1st-4th of a month, when Alibaba delivers both a month-to-date snapshot and the
previous month's final file."""

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.alibaba.partitions import delivery_days
from focus_assets.resources.stores import LocalFolderStore
from focus_assets.samples.alibaba import (
    ACCOUNTS,
    SampleDelivery,
    sample_deliveries,
    write_delivery,
)
from focus_assets.storage.base import md5_of
from focus_assets.storage.local import LocalFolder

from .helpers import export_sources_of, plan_of

SHANGHAI = ZoneInfo("Asia/Shanghai")
SETTLED = ExportSettings(settle_seconds=0)


@pytest.fixture()
def bucket(tmp_path):
    for delivery in sample_deliveries():
        write_delivery(tmp_path, delivery)
    return LocalFolderStore(root=str(tmp_path))


def tick(bucket, cursor=None, settings=SETTLED):
    """One evaluation of the sensor as the daemon runs it, on the real clock."""
    from focus_assets.definitions import defs

    sensor = defs.resolve_sensor_def("new_alibaba_deliveries")
    context = dg.build_sensor_context(
        cursor=cursor,
        definitions=defs,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"export_sources": export_sources_of(bucket), "raw_bucket": bucket, "export_settings": settings},
    )
    result = sensor.evaluate_tick(context)
    return [(r.partition_key, r.run_key) for r in result.run_requests], result.cursor


def days(runs) -> list[str]:
    return [run.day if hasattr(run, "day") else run[0] for run in runs]


def delivery_at(
    moment: datetime,
    billing_month: str | None = None,
    part: int = 0,
    ext: str = "csv.gz",
    through_day: int | None = None,
) -> SampleDelivery:
    """A delivery stamped `moment` (Alibaba's time, UTC+8) into the folder of `billing_month`
    (default: the month of the moment); `part` > 0 names one object of a delivery in several."""
    local = moment.astimezone(SHANGHAI)
    month = billing_month or local.strftime("%Y%m")
    stamp = local.strftime("%Y%m%dT%H%M%S")
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    name = f"{account}_{site}_BillingItemDetail_{month}" + (f"_{part}" if part else "")
    return SampleDelivery(
        f"focus-export/{month}/{stamp}/{name}.{ext}", month, stamp, through_day or max(local.day - 1, 1)
    )


def write_at(root, delivery: SampleDelivery, modified: datetime | None = None, **kwargs) -> Path:
    """Write a delivery object; `modified` sets its last-modified time (when it "landed")."""
    path = write_delivery(root, delivery, rows_per_day=5, **kwargs)
    if modified is not None:
        os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def last_partition_at(moment: datetime) -> str:
    """The newest delivery-day partition Dagster knows at `moment`."""
    with dg.partition_loading_context(effective_dt=moment):
        return delivery_days.get_last_partition_key()


def test_first_tick_requests_every_delivery_day_then_nothing(bucket):
    runs, cursor = tick(bucket)
    assert days(runs) == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert tick(bucket, cursor) == ([], cursor)  # nothing new: no run, same cursor
    # the cursor is plain JSON: it survives a restart of the daemon
    assert json.loads(cursor)["watched"].keys() == {"202512", "202601"}


def test_a_delivery_stamped_now_is_requested_on_the_first_tick(tmp_path):
    """Today's partition exists (end_offset=1), so the delivery Alibaba made a moment ago runs now,
    not after midnight; and it is recorded as seen only because its run was requested."""
    now = datetime.now(UTC)
    write_at(tmp_path, delivery_at(now - timedelta(minutes=1)), modified=now - timedelta(minutes=1))
    bucket = LocalFolderStore(root=str(tmp_path))
    runs, cursor = tick(bucket, settings=ExportSettings())  # the default settle time (60 s) has passed
    stamped_day = (
        (now - timedelta(minutes=1)).astimezone(SHANGHAI).strftime("%Y-%m-%d")
    )  # today, or just before midnight
    assert days(runs) == [stamped_day]
    assert delivery_days.has_partition_key(stamped_day)
    assert tick(bucket, cursor, ExportSettings())[0] == []


def test_a_delivery_still_landing_waits_and_is_not_recorded_as_seen(tmp_path):
    """On the real clock: an object that landed a moment ago waits for its delivery to settle; the
    cursor does not record it, so a later tick requests it once the settle time has passed."""
    now = datetime.now(UTC)
    write_at(tmp_path, delivery_at(now))
    bucket = LocalFolderStore(root=str(tmp_path))
    settling = ExportSettings(settle_seconds=2)
    runs, cursor = tick(bucket, settings=settling)
    assert runs == []
    assert json.loads(cursor)["watched"] == {now.astimezone(SHANGHAI).strftime("%Y%m"): {}}
    time.sleep(2.1)
    runs, _ = tick(bucket, cursor, settling)
    assert len(runs) == 1


def test_parts_of_one_delivery_arriving_across_ticks(tmp_path):
    """Alibaba splits a large bill into several objects that land minutes apart: no run while
    parts still arrive, one run with every part once the delivery has been quiet for the settle
    time, and the day again when a late part lands."""
    bucket = LocalFolderStore(root=str(tmp_path))
    settings = ExportSettings(settle_seconds=600)
    landed = datetime(2026, 12, 2, 17, 0, tzinfo=SHANGHAI)
    part = {n: delivery_at(landed, part=n, ext="zip") for n in (1, 2, 3)}
    write_at(tmp_path, part[1], modified=landed)
    plan = plan_of(bucket, settings, None, now=landed + timedelta(minutes=4))
    assert plan.runs == [] and [w.key for w in plan.waiting] == [part[1].key]
    assert "waiting" in plan.summary() and "last changed 240 s ago" in str(plan.waiting[0])
    write_at(tmp_path, part[2], modified=landed + timedelta(minutes=7), seed=2)
    plan = plan_of(bucket, settings, plan.cursor, now=landed + timedelta(minutes=12))
    assert plan.runs == [] and len(plan.waiting) == 2  # the second part reset the clock
    plan = plan_of(bucket, settings, plan.cursor, now=landed + timedelta(minutes=17, seconds=1))
    [run] = plan.runs
    assert run.day == "2026-12-02" and run.keys == (part[1].key, part[2].key)
    assert plan_of(bucket, settings, plan.cursor, now=landed + timedelta(minutes=30)).runs == []
    write_at(tmp_path, part[3], modified=landed + timedelta(minutes=40), seed=3)  # a part that came late
    plan = plan_of(bucket, settings, plan.cursor, now=landed + timedelta(minutes=45))
    assert plan.runs == [] and [w.key for w in plan.waiting] == [part[3].key]
    plan = plan_of(bucket, settings, plan.cursor, now=landed + timedelta(minutes=51))
    [again] = plan.runs
    assert again.day == "2026-12-02" and again.keys == (part[3].key,) and again.run_key != run.run_key


@pytest.mark.parametrize(
    "local_time",
    [
        datetime(2026, 12, 1, 0, 0, 30),
        datetime(2026, 12, 1, 23, 59, 50),
        datetime(2026, 12, 2, 0, 5),
        datetime(2027, 1, 3, 0, 1),
        datetime(2027, 1, 4, 23, 59),
        datetime(2026, 12, 3, 0, 0, 1),
    ],
)
def test_around_midnight_utc8_on_the_1st_to_4th(tmp_path, local_time):
    """A month-to-date snapshot and the previous month's final file, both stamped at `local_time`
    (UTC+8), are requested on the first tick after they land, for the day the partitions know as
    today at that instant (and only then: one second earlier, that day does not exist)."""
    moment = local_time.replace(tzinfo=SHANGHAI)
    previous = (moment.replace(day=1) - timedelta(days=1)).strftime("%Y%m")
    for delivery in (delivery_at(moment), delivery_at(moment, previous, through_day=28)):
        write_at(tmp_path, delivery, modified=moment)
    bucket = LocalFolderStore(root=str(tmp_path))
    plan = plan_of(bucket, SETTLED, None, now=moment + timedelta(seconds=1), first_day="2025-12-01")
    day = moment.strftime("%Y-%m-%d")
    assert [(r.day, len(r.keys)) for r in plan.runs] == [(day, 2)]
    assert last_partition_at(moment + timedelta(seconds=1)) == day
    # a clock one second behind the stamp: the object waits for its partition, and is not recorded
    early = moment - timedelta(seconds=1)
    if early.strftime("%Y-%m-%d") != day:
        plan = plan_of(bucket, SETTLED, None, now=early, first_day="2025-12-01")
        assert plan.runs == [] and all("its partition does not exist yet" in s.reason for s in plan.skipped)
        assert last_partition_at(early) < day


def test_a_skipped_object_is_reconsidered_later(tmp_path):
    """Deliveries before the first partition day are reported with the reason and not recorded as
    seen; when the first day moves earlier (FOCUS_START_MONTH), they are requested."""
    bucket = LocalFolderStore(root=str(tmp_path))
    now = datetime(2026, 3, 10, 12, 0, tzinfo=SHANGHAI)
    for delivery in sample_deliveries():
        write_at(tmp_path, delivery, modified=now - timedelta(days=1))
    plan = plan_of(bucket, SETTLED, None, now=now, first_day="2026-01-04")
    assert days(plan.runs) == ["2026-01-04", "2026-01-05"]
    assert sorted(s.reason for s in plan.skipped) == [
        "delivered on 2026-01-02, before the first partition day 2026-01-04",
        "delivered on 2026-01-03, before the first partition day 2026-01-04",
        "delivered on 2026-01-03, before the first partition day 2026-01-04",
    ]
    assert "3 object(s) skipped" in plan.summary()
    # months pass: 202512 leaves the two latest months, with its skipped object kept apart
    for month in ("202602", "202603"):
        write_at(
            tmp_path,
            delivery_at(datetime(2026, int(month[4:]), 2, 8, tzinfo=SHANGHAI)),
            modified=now - timedelta(days=1),
        )
    plan = plan_of(bucket, SETTLED, plan.cursor, now=now, first_day="2026-01-04")
    assert days(plan.runs) == ["2026-02-02", "2026-03-02"]
    cursor = json.loads(plan.cursor)
    assert cursor["final"]["202512"] == [sample_deliveries()[0].key]
    assert plan_of(bucket, SETTLED, plan.cursor, now=now, first_day="2026-01-04").runs == []
    plan = plan_of(bucket, SETTLED, plan.cursor, now=now, first_day="2026-01-01")  # the setting moved earlier
    assert days(plan.runs) == ["2026-01-02", "2026-01-03"]
    assert [len(run.keys) for run in plan.runs] == [1, 2]


def test_an_object_no_run_reads_is_reported_every_tick_and_never_seen(bucket):
    """A delivery of 5 January written into October's folder: a run of 5 January reads only the
    folders of December and January, so no run would type it. It is reported, never recorded,
    and its folder is listed again on every tick."""
    stray = SampleDelivery(
        "focus-export/202510/20260105T080000/1234567890123456_26842_BillingItemDetail_202510.csv",
        "202510",
        "20260105T080000",
        31,
    )
    write_delivery(bucket.get_bucket().base, stray)
    plan = plan_of(bucket, SETTLED, None)
    assert days(plan.runs) == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert all(stray.key not in run.keys for run in plan.runs)
    [note] = plan.skipped
    assert note.key == stray.key and note.reason == (
        "delivered on 2026-01-05 into the folder of 202510; a run of 2026-01-05 reads only the folders of 202512 and 202601"
    )
    again = plan_of(bucket, SETTLED, plan.cursor)
    assert again.runs == [] and again.skipped == [note] and stray.key in again.summary()
    assert json.loads(again.cursor)["watched"]["202510"] == {}


def test_a_redelivered_object_requests_its_day_again(bucket):
    runs, cursor = tick(bucket)
    new_day = SampleDelivery(
        "focus-export/202601/20260106T090000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
        "202601",
        "20260106T090000",
        5,
    )
    write_delivery(bucket.get_bucket().base, new_day)
    runs, cursor = tick(bucket, cursor)
    assert days(runs) == ["2026-01-06"]
    first_key = runs[0][1]
    assert tick(bucket, cursor)[0] == []
    # Alibaba delivers the same object again with other content: a new ETag, a new run
    write_delivery(bucket.get_bucket().base, new_day, seed=99)
    runs, cursor = tick(bucket, cursor)
    assert days(runs) == ["2026-01-06"] and runs[0][1] != first_key


def test_the_final_delivery_of_the_previous_month_is_seen(bucket):
    runs, cursor = tick(bucket)
    late_final = SampleDelivery(
        "focus-export/202512/20260104T110000/1234567890123456_26842_BillingItemDetail_202512.zip",
        "202512",
        "20260104T110000",
        31,
    )
    write_delivery(bucket.get_bucket().base, late_final)
    runs, _ = tick(bucket, cursor)
    assert days(runs) == ["2026-01-04"]


def test_a_month_leaving_the_watched_months_is_not_run_again(bucket):
    """When a new month folder appears, the oldest watched month is listed once more and becomes
    final: its days are not requested again."""
    _, cursor = tick(bucket)
    february = delivery_at(datetime(2026, 2, 2, 8, tzinfo=SHANGHAI))
    write_at(bucket.get_bucket().base, february)
    runs, cursor = tick(bucket, cursor)
    assert days(runs) == ["2026-02-02"]
    state = json.loads(cursor)
    assert state["watched"].keys() == {"202601", "202602"} and state["final"] == {"202512": []}
    assert tick(bucket, cursor) == ([], cursor)


def test_only_the_latest_months_are_listed_again(bucket, monkeypatch):
    _, cursor = tick(bucket)
    older = SampleDelivery(
        "focus-export/202511/20251203T100000/1234567890123456_26842_BillingItemDetail_202511.csv",
        "202511",
        "20251203T100000",
        30,
    )
    write_delivery(bucket.get_bucket().base, older)
    listed = []
    original = LocalFolder.list_objects
    monkeypatch.setattr(
        LocalFolder,
        "list_objects",
        lambda self, prefix="", etags=True: listed.append(prefix) or original(self, prefix, etags),
    )
    plan = plan_of(bucket, SETTLED, cursor)
    assert days(plan.runs) == ["2025-12-03"]
    assert sorted(listed) == ["focus-export/202511/", "focus-export/202512/", "focus-export/202601/"]  # 202511: new
    listed.clear()
    plan_of(bucket, SETTLED, plan.cursor)
    assert sorted(listed) == ["focus-export/202512/", "focus-export/202601/"]  # final months are not listed again


@pytest.mark.parametrize("month_folder", ["{yyyymm}", "{yyyy}-{mm}", "yearmonth={yyyymm}", "yearmonth={yyyy}-{mm}"])
def test_every_month_folder_form_is_watched(tmp_path, month_folder):
    bucket = LocalFolderStore(root=str(tmp_path))
    for delivery in sample_deliveries():
        month = delivery.billing_month
        folder = month_folder.format(yyyymm=month, yyyy=month[:4], mm=month[4:])
        write_delivery(
            tmp_path,
            SampleDelivery(
                delivery.key.replace(f"/{month}/", f"/{folder}/"), month, delivery.batch_ts, delivery.through_day
            ),
        )
    plan = plan_of(bucket, SETTLED, None)
    assert days(plan.runs) == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"] and not plan.skipped
    assert json.loads(plan.cursor)["watched"].keys() == {"202512", "202601"}


def test_days_a_backfill_already_ran_are_not_run_again(tmp_path):
    """A backfill in one run (the history, before the sensor is switched on) covers its days: the
    sensor's first tick records the objects it read without asking for runs, and runs what lands
    later, even a file written before the backfill and moved in after it (it keeps its mtime)."""
    from focus_assets.alibaba.assets import ASSETS
    from focus_assets.definitions import defs
    from focus_assets.deployment import local_resources

    for delivery in sample_deliveries():
        write_delivery(tmp_path / "oss", delivery)
    resources = local_resources(tmp_path)
    sensor = defs.resolve_sensor_def("new_alibaba_deliveries")
    late = SampleDelivery(
        "focus-export/202601/20260105T230000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
        "202601",
        "20260105T230000",
        4,
    )
    written_before = write_delivery(tmp_path / "staging", late)
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            ASSETS,
            resources=resources,
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2026-01-02",
                "dagster/asset_partition_range_end": "2026-01-05",
            },
        ).success

        def tick(cursor=None):
            context = dg.build_sensor_context(
                cursor=cursor,
                definitions=defs,
                instance=instance,
                resources={
                    "export_sources": resources["export_sources"],
                    "raw_bucket": resources["raw_bucket"],
                    "export_settings": SETTLED,
                },
            )
            result = sensor.evaluate_tick(context)
            return [r.partition_key for r in result.run_requests], result.cursor

        runs, cursor = tick()
        assert runs == [] and sum(len(keys) for keys in json.loads(cursor)["watched"].values()) == len(
            sample_deliveries()
        )
        (tmp_path / "oss" / late.key).parent.mkdir()
        os.replace(written_before, tmp_path / "oss" / late.key)
        runs, cursor = tick(cursor)
        assert runs == ["2026-01-05"]
        write_delivery(
            tmp_path / "oss",
            SampleDelivery(
                "focus-export/202601/20260106T090000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
                "202601",
                "20260106T090000",
                5,
            ),
        )
        assert tick(cursor)[0] == ["2026-01-06"]


def test_only_the_objects_the_days_run_read_are_covered(tmp_path):
    """Recorded without a run: an object the day's latest run read with the same ETag. A file
    written before that run but moved in after it (it keeps its mtime) was not read: it is run."""
    landed = datetime(2026, 12, 2, 17, 0, tzinfo=SHANGHAI)
    delivery = delivery_at(landed)
    path = write_at(tmp_path, delivery, modified=landed)
    bucket, later = LocalFolderStore(root=str(tmp_path)), landed + timedelta(hours=1)
    etag = md5_of(path)
    plan = plan_of(bucket, SETTLED, None, now=later, day_objects_read=lambda day: {delivery.key: "another etag"})
    assert days(plan.runs) == ["2026-12-02"] and plan.covered == []
    plan = plan_of(bucket, SETTLED, None, now=later, day_objects_read=lambda day: {delivery.key: etag})
    assert plan.runs == [] and [note.key for note in plan.covered] == [delivery.key]
    assert "already run: the latest run of 2026-12-02 read it" in plan.covered[0].reason
    assert plan_of(bucket, SETTLED, plan.cursor, now=later).runs == []  # recorded
