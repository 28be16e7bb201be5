"""The `aws` deployment end to end against moto's server: the real oss2 client on the export
bucket (through the OSS-dialect adapter), S3 copies and Parquet in the lake bucket, the table and
partitions in moto's Glue, and the SQL that reached moto's Athena (moto runs no SQL; the SQL's
logic is tested on DuckDB)."""

import boto3
import dagster as dg
import polars as pl
import pytest
from dagster_aws.s3 import S3Resource

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import resources_for
from focus_assets.focus.names import UnsafeNameError
from focus_assets.focus.schema import output_columns
from focus_assets.resources.stores import S3Store
from focus_assets.samples.alibaba import sample_deliveries

from .helpers import KEY, csv_text
from .local_aws import OSS_KEY_ID, OSS_SECRET, aws_deployment


@pytest.fixture()
def aws(tmp_path, monkeypatch):
    with aws_deployment(tmp_path, monkeypatch) as deployment:
        yield deployment.endpoint, deployment.s3


def test_two_delivery_days_on_aws(aws):
    endpoint, s3 = aws
    resources = resources_for()
    for day in ("2026-01-03", "2026-01-05"):
        result = dg.materialize(ASSETS, partition_key=day, resources=resources)
        assert result.success
        checks = {
            e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        assert checks["table_schema"] and checks["reconciliation"] and checks["focus_rules"]
        meta = {
            e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
        }
        assert OSS_SECRET not in str(meta) and OSS_KEY_ID not in str(meta)

    raw = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="focus-raw")["Contents"])
    assert raw == sorted(f"alibaba/{d.key}" for d in sample_deliveries() if d.batch_ts[:8] in ("20260103", "20260105"))
    lake = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="focus-lake")["Contents"])
    typed = [k for k in lake if k.startswith("lake/focus_alibaba_normalized/")]
    assert len(typed) == 5  # December's two zip members, January's 3rd, and the 5th's two members
    assert [k for k in lake if k.startswith("lake/alibaba_deliveries/")] == [
        "lake/alibaba_deliveries/202512_20260103T100000.parquet",
        "lake/alibaba_deliveries/202601_20260103T060000.parquet",
        "lake/alibaba_deliveries/202601_20260105T080000.parquet",
    ]
    options = {"aws_endpoint_url": endpoint, "aws_allow_http": "true", "aws_region": "us-east-1"}
    rows = (
        pl.scan_parquet(
            "s3://focus-lake/lake/focus_alibaba_normalized/yearmonth=202601/batch_ts=20260105T080000/*.parquet",
            storage_options=options,
        )
        .select(pl.len())
        .collect()
        .item()
    )
    assert rows == 240

    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
    partitions = glue.get_partitions(DatabaseName="focus", TableName="focus_alibaba_normalized")["Partitions"]
    assert sorted(tuple(p["Values"]) for p in partitions) == [
        ("202512", "20260103T100000"),
        ("202601", "20260103T060000"),
        ("202601", "20260105T080000"),
    ]
    assert glue.get_table(DatabaseName="focus", Name="alibaba_deliveries")["Table"]["PartitionKeys"] == []

    athena = boto3.client("athena", endpoint_url=endpoint, region_name="us-east-1")
    sent = [
        athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
        for q in athena.list_query_executions()["QueryExecutionIds"]
    ]
    assert any(q.startswith("-- Alibaba's FOCUS data, current") for q in sent)
    unified = [q for q in sent if "CREATE OR REPLACE VIEW focus_unified" in q]
    assert unified and "focus_source_azure" in unified[-1] and "focus_source_oci" not in unified[-1]
    assert any("FROM azure_focus_export" in q for q in sent)  # the configured table name, substituted


def test_a_catalog_table_that_drifted_from_the_schema_fails_its_check(aws):
    endpoint, _ = aws
    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
    glue.create_database(DatabaseInput={"Name": "focus"})
    glue.create_table(
        DatabaseName="focus",
        TableInput={  # an older table: without x_SourceChanges
            "Name": "focus_alibaba_normalized",
            "PartitionKeys": [{"Name": "yearmonth", "Type": "string"}, {"Name": "batch_ts", "Type": "string"}],
            "StorageDescriptor": {
                "Columns": [{"Name": c.name, "Type": c.kind.athena} for c in output_columns()[:-1]],
                "Location": "s3://focus-lake/lake/focus_alibaba_normalized/",
            },
        },
    )
    result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources_for(), raise_on_error=False)
    [check] = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == "table_schema"
    ]
    assert not check.passed and check.metadata["missing"].value == ["x_SourceChanges"]


def test_the_table_and_views_are_tagged_with_athena(aws):
    from focus_assets.definitions import with_engine_kinds

    kinds = {
        key.to_user_string(): spec.kinds
        for asset in with_engine_kinds(ASSETS, resources_for()["warehouse"])
        for key, spec in asset.specs_by_key.items()
    }
    assert kinds["athena_table"] == {"athena", "glue", "s3"}
    assert kinds["provider_views"] == kinds["unified_focus_view"] == {"sql", "athena"}
    assert kinds["typed_focus_parquet"] == {"polars", "parquet"}


def test_a_missing_setting_is_named(monkeypatch):
    for name in ("FOCUS_RAW_BUCKET", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOCUS_DEPLOYMENT", "aws")
    with pytest.raises(ValueError, match="needs the environment variables .*FOCUS_RAW_BUCKET.*OSS_ACCESS_KEY_SECRET"):
        resources_for()


@pytest.mark.parametrize(
    "name, value",
    [
        ("FOCUS_ATHENA_DATABASE", "focus; DROP TABLE focus_alibaba_normalized"),
        ("FOCUS_ATHENA_WORKGROUP", "primary' --"),
        ("FOCUS_SOURCE_AZURE_TABLE", "azure UNION SELECT * FROM secrets"),
        ("FOCUS_RAW_PREFIX", "../other-team"),
        ("FOCUS_LAKE_PREFIX", "lake/../../"),
        ("FOCUS_EXPORT_PREFIX", "focus-export/${AWS_SECRET_ACCESS_KEY}"),
        ("FOCUS_LAKE_BUCKET", "focus-lake/../other"),
        ("FOCUS_ATHENA_OUTPUT", "s3://results/'; DROP"),
    ],
)
def test_injection_and_traversal_in_configuration_are_refused_by_name(aws, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(UnsafeNameError, match=f"^{name}=.* is refused: "):
        resources_for()


def test_an_object_key_that_leads_out_of_its_folder_is_refused_and_reported(aws, tmp_path):
    endpoint, s3 = aws
    bad = "bills/focus-export/202601/20260105T080000/../../../../escape/1234_BillingItemDetail_202601.csv"
    s3.put_object(Bucket="alibaba-export", Key=bad, Body=b"BilledCost\n1\n")
    result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources_for())
    meta = result.asset_materializations_for_node("raw_oss_export")[0].metadata
    [note] = meta["objects not placed (no delivery stamp, or key refused)"].value
    assert "is refused" in note and "'..' segment" in note
    assert meta["objects"].value == 1  # the day's good object, still processed
    raw = [o["Key"] for o in s3.list_objects_v2(Bucket="focus-raw")["Contents"]]
    assert not [k for k in raw if "escape" in k]
    lake = S3Store(s3=S3Resource(region_name="us-east-1", endpoint_url=endpoint), bucket="focus-lake").get_bucket()
    with pytest.raises(UnsafeNameError, match="is refused"):
        lake.upload(tmp_path, "lake/../../outside.parquet")
    with pytest.raises(UnsafeNameError, match="is refused"), lake.local_copy("lake/.."):
        pass


def test_a_redelivery_without_its_bad_row_leaves_no_stale_quarantine_in_s3(aws):
    _, s3 = aws
    for rows, quarantined in (
        ([{"BilledCost": "1.00"}, {"BilledCost": "one"}], 1),
        ([{"BilledCost": "1.00"}, {"BilledCost": "1.50"}], 0),
    ):  # the same key, corrected
        s3.put_object(Bucket="alibaba-export", Key=f"bills/{KEY}", Body=csv_text(rows).encode())
        result = dg.materialize(ASSETS, partition_key="2026-01-06", resources=resources_for())
        assert (
            result.asset_materializations_for_node("typed_focus_parquet")[0].metadata["rows quarantined"].value
            == quarantined
        )
        lake = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket="focus-lake", Prefix="lake/focus_alibaba_quarantine/").get(
                "Contents", []
            )
        ]
        assert len(lake) == quarantined
