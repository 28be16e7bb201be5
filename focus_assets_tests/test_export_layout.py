"""export_layout.py: the month folders, the delivery day of each object, the objects a day's run
reads and the newest delivery per month, over every key layout the default key pattern accepts.
Listing needs no content, so the objects here are empty files with chosen times."""

import itertools
import os
from datetime import UTC, datetime

import pytest

from focus_assets.focus.export_layout import (
    FLAT,
    ExportLayout,
    month_folders,
    newest_deliveries,
    objects_of_days,
    superseded,
)
from focus_assets.storage.local import LocalFolder

# (billing month, delivery day and time in UTC+8): daily snapshots and December's final file on 3 January
DELIVERIES = [
    ("202512", datetime(2025, 12, 30, 9)),
    ("202512", datetime(2026, 1, 3, 10)),
    ("202601", datetime(2026, 1, 2, 5)),
    ("202601", datetime(2026, 1, 3, 6)),
    ("202601", datetime(2026, 1, 5, 8)),
]
MONTH_FORMS = {
    "YYYYMM": "{m:%Y%m}",
    "YYYY-MM": "{m:%Y-%m}",
    "hive YYYYMM": "yearmonth={m:%Y%m}",
    "hive YYYY-MM": "yearmonth={m:%Y-%m}",
}
BATCH_FORMS = {
    "compact": "{t:%Y%m%dT%H%M%S}",
    "date": "{t:%Y%m%d}",
    "dashed date": "{t:%Y-%m-%d}",
    "ISO with Z": "{t:%Y-%m-%dT%H:%M:%S}Z",
    "underscore": "{t:%Y%m%d_%H%M}",
    "hive": "batch_ts={t:%Y%m%dT%H%M%S}",
    "space": "{t:%Y-%m-%d %H:%M}",
    "T without colons": "{t:%Y-%m-%dT%H%M}",
}


def write_layout(root, month_form: str, batch_form: str, prefix: str = "focus-export/") -> dict[str, str]:
    """Empty export objects at the DELIVERIES, keyed as the forms say; returns key -> delivery day."""
    days = {}
    for month, moment in DELIVERIES:
        folder = MONTH_FORMS[month_form].format(m=datetime.strptime(month, "%Y%m"))
        batch = BATCH_FORMS[batch_form].format(t=moment)
        key = f"{prefix}{folder}/{batch}/1234567890123456_26842_BillingItemDetail_{month}.csv.gz"
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        days[key] = f"{moment:%Y-%m-%d}"
    return days


@pytest.mark.parametrize("month_form, batch_form", list(itertools.product(MONTH_FORMS, BATCH_FORMS)))
def test_every_key_layout_of_the_default_pattern(tmp_path, month_form, batch_form):
    days = write_layout(tmp_path, month_form, batch_form)
    store, layout = LocalFolder(tmp_path), ExportLayout()
    assert list(month_folders(store, layout)) == ["202512", "202601"]
    for day in sorted(set(days.values())):
        found, unplaced = objects_of_days(store, layout, [day])
        assert sorted(o.stored.key for o in found) == sorted(k for k, d in days.items() if d == day)
        assert unplaced == []
    newest = newest_deliveries(store, layout, {"202512", "202601"})
    dated = "%Y%m%d" if batch_form in ("date", "dashed date") else "%Y%m%dT%H%M"
    assert {m: ts[: len(datetime(2026, 1, 1).strftime(dated))] for m, ts in newest.items()} == {
        "202512": datetime(2026, 1, 3, 10).strftime(dated),
        "202601": datetime(2026, 1, 5, 8).strftime(dated),
    }


def test_a_run_reads_the_folders_of_its_month_and_the_month_before_only(tmp_path):
    write_layout(tmp_path, "hive YYYYMM", "compact")
    listed = []

    class CountingFolder(LocalFolder):
        def list_objects(self, prefix="", etags=True):
            listed.append(prefix)
            return super().list_objects(prefix, etags)

    for month in ("202401", "202402", "202511"):  # older months the run must not list
        (tmp_path / f"focus-export/yearmonth={month}").mkdir(parents=True)
    found, _ = objects_of_days(CountingFolder(tmp_path), ExportLayout(), ["2026-01-03"])
    assert len(found) == 2 and listed == ["focus-export/yearmonth=202512/", "focus-export/yearmonth=202601/"]


def test_without_month_folders_the_prefix_is_read_whole(tmp_path):
    """Keys without month and delivery folders: the month comes from Alibaba's file name, the
    delivery from the object's last-modified time (its day in UTC+8)."""
    landed = {
        "a_BillingItemDetail_202601.csv": datetime(2026, 1, 4, 23, 30, tzinfo=UTC),  # 5 Jan UTC+8
        "b_BillingItemDetail_202601.csv": datetime(2026, 1, 4, 15, 59, tzinfo=UTC),
    }  # 4 Jan, 23:59
    for name, moment in landed.items():
        path = tmp_path / "focus-export" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    store, layout = LocalFolder(tmp_path), ExportLayout()
    assert month_folders(store, layout) == {FLAT: "focus-export/"}
    [on_5th], _ = objects_of_days(store, layout, ["2026-01-05"])
    [on_4th], _ = objects_of_days(store, layout, ["2026-01-04"])
    assert on_5th.stored.key.endswith("a_BillingItemDetail_202601.csv") and on_5th.delivery.yearmonth == "202601"
    assert on_4th.stored.key.endswith("b_BillingItemDetail_202601.csv")
    assert newest_deliveries(store, layout, {"202601"}) == {"202601": "20260104T233000"}


def test_month_folders_below_another_folder_are_read_through_the_prefix(tmp_path):
    """An account folder between the prefix and the month folders: no month folder under the
    prefix, so the whole prefix is listed, and the key pattern still finds month and stamp."""
    path = tmp_path / "focus-export/account-1/202601/20260105T080000/x_BillingItemDetail_202601.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    store, layout = LocalFolder(tmp_path), ExportLayout()
    assert month_folders(store, layout) == {FLAT: "focus-export/"}
    [found], _ = objects_of_days(store, layout, ["2026-01-05"])
    assert (found.delivery.yearmonth, found.delivery.batch_ts) == ("202601", "20260105T080000")


def test_refused_and_misfiled_objects_are_reported_not_dropped(tmp_path):
    write_layout(tmp_path, "YYYYMM", "compact")
    misfiled = tmp_path / "focus-export/202601/20260301T080000/x_BillingItemDetail_202601.csv"  # a March delivery
    misfiled.parent.mkdir(parents=True)
    misfiled.write_bytes(b"")
    (tmp_path / "focus-export/202601/20260105T080000/notes.txt").write_text("not an export")  # ignored: not an export
    found, unplaced = objects_of_days(LocalFolder(tmp_path), ExportLayout(), ["2026-01-05"])
    assert len(found) == 1
    assert [str(u) for u in unplaced] == [
        "focus-export/202601/20260301T080000/x_BillingItemDetail_202601.csv: delivered on 2026-03-01 into the folder "
        "of 202601; a run of 2026-03-01 reads only the folders of 202602 and 202603"
    ]


def test_superseded_keeps_the_newest_delivery_of_each_month(tmp_path):
    write_layout(tmp_path, "hive YYYY-MM", "hive")
    store, layout = LocalFolder(tmp_path), ExportLayout()
    found, _ = objects_of_days(store, layout, ["2026-01-03"])
    keep, older = superseded(found, newest_deliveries(store, layout, {"202512", "202601"}))
    assert [o.delivery_id for o in keep] == ["202512/20260103T100000"]  # December's final file
    assert [o.delivery_id for o in older] == ["202601/20260103T060000"]  # January's snapshot of the 5th is newer


def test_a_custom_prefix_and_timezone(tmp_path):
    """Delivery days are dates in the source timezone: a stamp-less object landing at 23:30 UTC is
    the next day in UTC+8 and the same day in UTC."""
    path = tmp_path / "bills/x_BillingItemDetail_202601.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    moment = datetime(2026, 1, 4, 23, 30, tzinfo=UTC)
    os.utime(path, (moment.timestamp(), moment.timestamp()))
    store = LocalFolder(tmp_path)
    assert len(objects_of_days(store, ExportLayout(prefix="bills/"), ["2026-01-05"])[0]) == 1
    assert len(objects_of_days(store, ExportLayout(prefix="bills/", source_timezone="UTC"), ["2026-01-04"])[0]) == 1
