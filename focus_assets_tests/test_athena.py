"""Athena and Glue resources against moto's server (moto records Athena queries but runs no SQL;
the SQL's logic is tested on DuckDB). A failed query cannot be produced by moto, so that one case
uses botocore's Stubber."""

import boto3
import pytest
from botocore.stub import Stubber

from focus_assets.focus.schema import output_columns
from focus_assets.resources.athena import AthenaQueries, AthenaQueryError, GlueCatalog, wait_for_query
from focus_assets.sql_layer import load_objects

from .local_aws import aws_and_oss

LOCATION = "s3://focus-lake/alibaba/focus_alibaba_normalized/"


@pytest.fixture(scope="module")
def endpoint(monkeypatch_module):
    with aws_and_oss() as (s3_endpoint, _):
        yield s3_endpoint


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield patch


def test_the_table_and_partitions_in_glue(endpoint):
    glue = GlueCatalog(region_name="us-east-1", database="focus", endpoint_url=endpoint)
    assert glue.ensure_table(LOCATION) is True and glue.ensure_table(LOCATION) is False
    client = glue.client()
    table = client.get_table(DatabaseName="focus", Name="focus_alibaba_normalized")["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [c.name for c in output_columns()]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["yearmonth", "batch_ts"]
    assert glue.register_partitions(LOCATION, [("202601", "20260105T080000"), ("202512", "20260103T100000")]) == 2
    assert glue.register_partitions(LOCATION, [("202601", "20260105T080000"), ("202601", "20260106T080000")]) == 1
    found = client.get_partitions(
        DatabaseName="focus", TableName="focus_alibaba_normalized", Expression="yearmonth = '202601'"
    )["Partitions"]
    assert sorted(p["Values"][1] for p in found) == ["20260105T080000", "20260106T080000"]
    assert found[0]["StorageDescriptor"]["Location"].startswith(LOCATION + "yearmonth=202601/batch_ts=")


def test_view_sql_reaches_athena(endpoint):
    athena = AthenaQueries(
        region_name="us-east-1",
        database="focus",
        output_location="s3://focus-results/",
        endpoint_url=endpoint,
        poll_seconds=0.01,
    )
    view = next(o for o in load_objects() if o.name == "alibaba_focus")
    query_id = athena.run(view.text)
    sent = athena.client().get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert sent["Query"] == view.text and sent["QueryExecutionContext"]["Database"] == "focus"


def test_a_failed_query_raises_with_athenas_reason():
    client = boto3.client("athena", region_name="us-east-1")
    stubber = Stubber(client)  # the one case moto cannot produce: it reports every query as succeeded
    stubber.add_response(
        "get_query_execution", {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "RUNNING"}}}
    )
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {"State": "FAILED", "StateChangeReason": "line 1:8: Column 'billedcosts' cannot be resolved"},
            }
        },
    )
    with (
        stubber,
        pytest.raises(AthenaQueryError, match="q-1 failed: line 1:8: Column 'billedcosts' cannot be resolved"),
    ):
        wait_for_query(client, "q-1", 0.001, 0.01, 5)


def test_more_partitions_than_glue_takes_in_one_call_are_registered_in_batches(endpoint, monkeypatch):
    """Glue's BatchCreatePartition takes at most 100 partitions (moto does not enforce it)."""
    glue = GlueCatalog(region_name="us-east-1", database="focus_many", endpoint_url=endpoint)
    glue.ensure_table(LOCATION)
    batches = []
    client = glue.client()
    client.meta.events.register(
        "provide-client-params.glue.BatchCreatePartition",
        lambda params, **_: batches.append(len(params["PartitionInputList"])),
    )
    monkeypatch.setattr(GlueCatalog, "client", lambda self: client)
    partitions = [
        (f"2026{month:02d}", f"2026{month:02d}{day:02d}T080000") for month in range(1, 10) for day in range(1, 29)
    ]
    assert glue.register_partitions(LOCATION, partitions) == 252
    assert batches == [100, 100, 52]
    found = client.get_paginator("get_partitions").paginate(
        DatabaseName="focus_many", TableName="focus_alibaba_normalized"
    )
    assert sum(len(page["Partitions"]) for page in found) == 252
