"""The asset checks, on the local deployment: reconciliation (blocking), schema stability, FOCUS
rules and snapshot sanity."""

import csv
import gzip
import io

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.deployment import local_resources
from focus_assets.samples.alibaba import SampleDelivery, sample_deliveries, write_delivery


def run_day(resources, day, instance=None):
    result = dg.materialize(ASSETS, partition_key=day, resources=resources, raise_on_error=False, instance=instance)
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    return result, checks, done


@pytest.fixture()
def home(tmp_path):
    for delivery in sample_deliveries():
        write_delivery(tmp_path / "oss", delivery)
    return tmp_path


def test_checks_on_the_sample_deliveries(home):
    _, checks, done = run_day(local_resources(home), "2026-01-03")
    assert checks["reconciliation"].passed
    schema = checks["schema_stability"]
    # the first delivery: every gap is one Alibaba documents, so it passes with the gaps as metadata
    assert schema.passed and schema.metadata["changes since the delivery typed before"].value == []
    assert schema.metadata["columns missing upstream (typed nulls)"].value == [
        "ChargeDescription",
        "ConsumedQuantity",
        "ConsumedUnit",
    ]
    assert schema.metadata["new columns upstream (in x_ExtraColumns)"].value == ["x_ResourceGroup"]
    rules = checks["focus_rules"]
    assert rules.passed and rules.metadata["violations (rows)"].value == {}
    assert (
        rules.metadata["Alibaba's documented gaps (rows)"].value["ContractedCost is null (FOCUS: not nullable)"] == 1980
    )
    assert checks["snapshot_sanity"].passed and "unified_focus_view" in done
    assert checks["table_schema"].passed


def drop_column(path, column):
    rows = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    index = rows[0].index(column)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([row[:index] + row[index + 1 :] for row in rows])
    path.write_bytes(gzip.compress(buffer.getvalue().encode(), mtime=0))


def test_schema_stability_warns_when_the_header_changes_and_passes_once_steady(tmp_path):
    deliveries = [  # January month-to-date, delivered on the 2nd to the 5th
        SampleDelivery(
            f"focus-export/202601/2026010{day}T050000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
            "202601",
            f"2026010{day}T050000",
            day - 1,
        )
        for day in (2, 3, 4, 5)
    ]
    for n, delivery in enumerate(deliveries):
        path = write_delivery(tmp_path / "oss", delivery)
        if n >= 1:
            drop_column(path, "x_ResourceGroup")
        if n >= 2:
            drop_column(path, "SkuId")
    resources, instance = local_resources(tmp_path), dg.DagsterInstance.ephemeral()
    states = []
    for day in ("2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"):
        schema = run_day(resources, day, instance)[1]["schema_stability"]
        states.append((schema.passed, schema.metadata["changes since the delivery typed before"].value))
    assert schema.severity == dg.AssetCheckSeverity.WARN
    assert states == [
        (True, []),  # the first delivery: documented gaps only
        (False, ["x_ResourceGroup: no longer delivered"]),
        (False, ["SkuId: newly missing"]),  # and SkuId is not a documented omission
        (False, []),  # no change, but SkuId missing is still wrong: not documented as omitted
    ]
    assert schema.metadata["missing, not documented as omitted by Alibaba"].value == ["SkuId"]


def test_a_focus_rule_violation_is_reported(home):
    path = home / "oss" / sample_deliveries()[1].key
    text = gzip.decompress(path.read_bytes()).decode().replace(",Usage,", ",Consumption,", 3)
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    _, checks, _ = run_day(local_resources(home), "2026-01-02")
    assert not checks["focus_rules"].passed
    assert checks["focus_rules"].metadata["violations (rows)"].value == {
        "ChargeCategory not one of the allowed values": 3
    }


def test_a_reconciliation_failure_blocks_the_downstream_assets(home):
    path = home / "oss" / sample_deliveries()[1].key
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    header = lines[0].split(",")
    fields = lines[1].split(",")
    fields[header.index("BilledCost")] = "0.12345678905"
    lines[1] = ",".join(fields)
    path.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    resources = {**local_resources(home), "export_settings": ExportSettings(round_excess_decimals=True)}
    result, checks, done = run_day(resources, "2026-01-02")
    assert not checks["reconciliation"].passed and checks["reconciliation"].severity == dg.AssetCheckSeverity.ERROR
    assert "typed_focus_parquet" in done and "athena_table" not in done  # blocked
    assert not result.success


def test_a_regressing_snapshot_is_withheld_unless_promoted(home):
    resources = local_resources(home)
    run_day(resources, "2026-01-05")  # January through the 4th is current
    short = SampleDelivery(
        "focus-export/202601/20260106T090000/1234567890123456_26842_BillingItemDetail_202601.csv.gz",
        "202601",
        "20260106T090000",
        1,
    )  # a later snapshot with only the 1st of January
    write_delivery(home / "oss", short)
    _, checks, _ = run_day(resources, "2026-01-06")
    sanity = checks["snapshot_sanity"]
    assert not sanity.passed and list(sanity.metadata["withheld"].value) == ["202601/20260106T090000"]
    current = resources["warehouse"].query("SELECT DISTINCT batch_ts FROM alibaba_focus WHERE yearmonth = '202601'")
    assert current == [("20260105T080000",)]
    promoting = {**resources, "export_settings": ExportSettings(promote_suspicious_snapshots=True)}
    run_day(promoting, "2026-01-06")
    current = resources["warehouse"].query("SELECT DISTINCT batch_ts FROM alibaba_focus WHERE yearmonth = '202601'")
    assert current == [("20260106T090000",)]
