"""The sensor new_alibaba_deliveries, tick by tick, with a real folder store."""

import json

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ExportSettings
from focus_assets.alibaba.sensors import plan_runs
from focus_assets.resources.stores import LocalFolderStore
from focus_assets.samples.alibaba import SampleDelivery, sample_deliveries, write_delivery


@pytest.fixture()
def bucket(tmp_path):
    for delivery in sample_deliveries():
        write_delivery(tmp_path, delivery)
    return LocalFolderStore(root=str(tmp_path))


def tick(bucket, cursor=None):
    from focus_assets.definitions import defs

    sensor = defs.resolve_sensor_def("new_alibaba_deliveries")
    context = dg.build_sensor_context(cursor=cursor, definitions=defs,
                                      resources={"export_bucket": bucket, "export_settings": ExportSettings()})
    result = sensor.evaluate_tick(context)
    return [(r.partition_key, r.run_key) for r in result.run_requests], result.cursor


def test_first_tick_requests_every_delivery_day_then_nothing(bucket):
    runs, cursor = tick(bucket)
    assert [day for day, _ in runs] == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert tick(bucket, cursor) == ([], cursor)  # nothing new: no run, same cursor
    # the cursor is plain JSON: it survives a restart of the daemon
    assert json.loads(cursor)["watched"].keys() == {"202512", "202601"}


def test_a_new_day_and_a_redelivered_object(bucket):
    runs, cursor = tick(bucket)
    new_day = SampleDelivery("focus-export/202601/20260106T090000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
                             "202601", "20260106T090000", 5)
    write_delivery(bucket.open().base, new_day)
    runs, cursor = tick(bucket, cursor)
    assert [day for day, _ in runs] == ["2026-01-06"]
    first_key = runs[0][1]
    assert tick(bucket, cursor)[0] == []
    # Alibaba delivers the same object again with other content: a new ETag, a new run
    write_delivery(bucket.open().base, new_day, seed=99)
    runs, cursor = tick(bucket, cursor)
    assert [day for day, _ in runs] == ["2026-01-06"] and runs[0][1] != first_key


def test_the_final_delivery_of_the_previous_month_is_seen(bucket):
    runs, cursor = tick(bucket)
    late_final = SampleDelivery("focus-export/202512/20260104T110000/1234567890123456_26842_BillingItemDetail_202512.zip",
                                "202512", "20260104T110000", 31)
    write_delivery(bucket.open().base, late_final)
    runs, _ = tick(bucket, cursor)
    assert [day for day, _ in runs] == ["2026-01-04"]


def test_only_the_latest_months_are_listed_again(bucket, monkeypatch):
    _, cursor = tick(bucket)
    older = SampleDelivery("focus-export/202511/20251203T100000/1234567890123456_26842_BillingItemDetail_202511.csv",
                           "202511", "20251203T100000", 30)
    write_delivery(bucket.open().base, older)
    listed = []
    original = LocalFolderStore.list_objects
    monkeypatch.setattr(LocalFolderStore, "list_objects",
                        lambda self, prefix="": listed.append(prefix) or original(self, prefix))
    runs, cursor = plan_runs(bucket, ExportSettings(), cursor)[:2]
    assert sorted(listed) == ["focus-export/202511/", "focus-export/202512/", "focus-export/202601/"]  # 202511: new
    listed.clear()
    plan_runs(bucket, ExportSettings(), cursor)
    assert sorted(listed) == ["focus-export/202512/", "focus-export/202601/"]  # final months are not listed again
