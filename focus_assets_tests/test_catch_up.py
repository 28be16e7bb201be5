"""Catch-up: in a backfill of daily month-to-date snapshots, only the newest delivery of each
billing month is typed; the current view is the same as without it, and a superseded delivery
can still be typed on demand."""

from dataclasses import replace

import dagster as dg
import pytest

from focus_assets.deployment import local_resources
from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .test_dagster_local import materialize_day
from .test_run_safety import current

DAYS = ["2026-01-02", "2026-01-03", "2026-01-04"]  # January snapshots of the 2nd-4th, December's final file on the 3rd


def history(resources) -> list[tuple]:
    return resources["warehouse"].query("SELECT DISTINCT yearmonth, batch_ts FROM alibaba_focus_history ORDER BY 1, 2")


def test_catch_up_types_only_the_newest_delivery_of_each_month(tmp_path):
    homes = {}
    for mode in ("full", "catch_up"):
        homes[mode] = tmp_path / mode
        for delivery in sample_deliveries():
            if delivery.batch_ts[:8] <= "20260104":
                write_delivery(homes[mode] / "oss", delivery)
    full, fast = local_resources(homes["full"]), local_resources(homes["catch_up"], catch_up=True)
    typed = {}
    for day in DAYS:
        materialize_day(full, day)
        typed[day] = materialize_day(fast, day)["typed_focus_parquet"]
    assert typed["2026-01-02"]["superseded deliveries not typed (catch-up)"] == ["202601/20260102T050000"]
    assert typed["2026-01-02"]["dagster/row_count"] == 0
    assert typed["2026-01-03"]["superseded deliveries not typed (catch-up)"] == ["202601/20260103T060000"]
    assert typed["2026-01-03"]["billing months"] == ["202512"]  # December's final file is the newest of its month
    assert typed["2026-01-04"]["superseded deliveries not typed (catch-up)"] == []
    assert current(fast) == current(full)
    assert history(fast) == [("202512", "20260103T100000"), ("202601", "20260104T070000")]

    on_demand = local_resources(homes["catch_up"])  # catch-up off: the superseded day, typed after all
    materialize_day(on_demand, "2026-01-02")
    assert ("202601", "20260102T050000") in history(on_demand)
    assert current(on_demand) == current(full)  # history, never current


@pytest.mark.parametrize("month_folder", ["yearmonth={yyyymm}", "{yyyy}-{mm}"])
def test_catch_up_finds_the_newest_delivery_in_every_month_folder_form(tmp_path, month_folder):
    """The month folders the key pattern accepts besides YYYYMM: catch-up still knows the newest
    delivery of the month, and skips the day's older one."""
    for delivery in sample_deliveries():
        if delivery.batch_ts[:8] <= "20260104":
            month = delivery.billing_month
            folder = month_folder.format(yyyymm=month, yyyy=month[:4], mm=month[4:])
            write_delivery(tmp_path / "oss", replace(delivery, key=delivery.key.replace(f"/{month}/", f"/{folder}/")))
    typed = materialize_day(local_resources(tmp_path, catch_up=True), "2026-01-02")["typed_focus_parquet"]
    assert typed["superseded deliveries not typed (catch-up)"] == ["202601/20260102T050000"]
    assert typed["dagster/row_count"] == 0


def test_a_backfill_of_many_days_is_one_run_that_types_each_months_newest_delivery(tmp_path):
    """BackfillPolicy.single_run: a backfill over 2 to 5 January is one Dagster run; it copies every
    object of the range, types only December's final file and January's snapshot of the 5th, and
    leaves the current view as one run per day does."""
    from focus_assets.alibaba.assets import ASSETS
    from focus_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    assert all(graph.get(asset.key).backfill_policy == dg.BackfillPolicy.single_run() for asset in ASSETS)
    homes = {mode: tmp_path / mode for mode in ("per day", "one run")}
    for home in homes.values():
        for delivery in sample_deliveries():
            write_delivery(home / "oss", delivery)
    per_day = local_resources(homes["per day"])
    for day in ("2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"):
        materialize_day(per_day, day)
    one_run = local_resources(homes["one run"])
    result = dg.materialize(
        ASSETS,
        resources=one_run,
        tags={"dagster/asset_partition_range_start": "2026-01-02", "dagster/asset_partition_range_end": "2026-01-05"},
    )
    assert result.success
    materialized = {(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()}
    assert {day for _, day in materialized} == {"2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"}
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta["raw_s3_csv"]["copied"].value == len(sample_deliveries())  # every object, once
    assert meta["typed_focus_parquet"]["superseded deliveries not typed (catch-up)"].value == [
        "202601/20260102T050000",
        "202601/20260103T060000",
        "202601/20260104T070000",
    ]
    assert current(one_run) == current(per_day)
    assert history(one_run) == [("202512", "20260103T100000"), ("202601", "20260105T080000")]
    assert meta["athena_table"]["deliveries published"].value == [
        "202512/20260103T100000: 1860 rows, 0 quarantined",
        "202601/20260105T080000: 240 rows, 0 quarantined",
    ]
