"""What the sensor, the partition registration and a whole day's run cost does not grow with the
history: requests counted at moto's server (no timing). The figures at scale:
benchmarks/incremental.py."""

import itertools
from concurrent.futures import ThreadPoolExecutor

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from focus_assets.alibaba.assets import ASSETS
from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.deployment import resources_for
from focus_assets.focus.writer import OUTPUT_TABLE
from focus_assets.resources.athena import GlueCatalog
from focus_assets.resources.stores import OssStore, S3Store
from focus_assets.samples.alibaba import history_deliveries, history_keys

from .helpers import plan_of
from .local_aws import FaultPlan, add_history, aws_and_oss, aws_deployment

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SIZES = (50, 500)  # export objects: 2 and 10 billing months


@pytest.fixture(scope="module")
def servers():
    """Both local servers, and the export of each size in a bucket of its own (through HTTP)."""
    plan = FaultPlan()
    with aws_and_oss(plan) as (s3_endpoint, oss_endpoint):
        client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
        for n in SIZES:
            client.create_bucket(Bucket=f"export-{n}")
            with ThreadPoolExecutor(4) as pool:
                list(
                    pool.map(
                        lambda key, n=n: client.put_object(Bucket=f"export-{n}", Key=key, Body=b"x"), history_keys(n)
                    )
                )
        yield plan, s3_endpoint, oss_endpoint


def requests_of(plan: FaultPlan, action):
    """(the result, the requests the server received meanwhile, by (service, operation))."""
    before = plan.calls.copy()
    result = action()
    return result, dict(plan.calls - before)


def export_store(kind: str, servers, n: int):
    """The export bucket's resource: S3Store (push mode) or OssStore (pull mode). S3Store keeps one
    client for its life, so the ticks' requests are the listings only."""
    _, s3_endpoint, oss_endpoint = servers
    if kind == "s3":
        s3 = S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
        return S3Store(s3=s3, bucket=f"export-{n}")
    return OssStore(endpoint=oss_endpoint, bucket=f"export-{n}", access_key_id="LTAI-test", access_key_secret="test")


@pytest.mark.parametrize("kind", ["s3", "oss"])
def test_a_quiet_tick_lists_the_same_with_ten_times_the_history(servers, kind):
    plan = servers[0]
    first, quiet = {}, {}
    settled = ExportSettings(settle_seconds=0)
    for n in SIZES:
        store = export_store(kind, servers, n)
        tick, first[n] = requests_of(plan, lambda store=store: plan_of(store, settled, None))
        assert tick.runs
        again, quiet[n] = requests_of(plan, lambda store=store, cursor=tick.cursor: plan_of(store, settled, cursor))
        assert again.runs == [] and again.cursor == tick.cursor
    # the first tick lists every month (more at 500 objects); a quiet one the month folders and the two latest months
    months = {n: len({key.split("/")[1] for key in history_keys(n)}) for n in SIZES}
    assert months == {50: 2, 500: 10}
    assert first == {n: {(kind, "LIST"): 1 + months[n]} for n in SIZES}
    assert quiet[SIZES[0]] == quiet[SIZES[1]] == {(kind, "LIST"): 3}


@pytest.mark.parametrize("kind", ["s3", "oss"])
def test_a_list_request_returns_up_to_a_thousand_keys(servers, kind):
    """oss2 asks for 100 keys a page unless told: the OSS store asks for OSS's maximum, 1,000."""
    bucket = export_store(kind, servers, SIZES[1]).get_bucket()
    listed, requests = requests_of(servers[0], lambda: bucket.list_objects("focus-export/"))
    assert len(listed) == SIZES[1] and requests == {(kind, "LIST"): 1}


def test_registering_a_partition_costs_the_same_with_200_registered(servers, monkeypatch):
    plan, s3_endpoint, _ = servers
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name.upper(), value)
    new = ("202601", "20260106T080000")
    calls = {}
    for earlier in (1, 200):
        glue = GlueCatalog(region_name="us-east-1", database=f"focus_{earlier}", endpoint_url=s3_endpoint)
        location = "s3://focus-lake/lake/focus_alibaba_normalized/"
        glue.ensure_table(location)
        existing = list(itertools.islice(history_deliveries(), earlier))
        for start in range(0, earlier, 100):
            glue.client().batch_create_partition(
                DatabaseName=glue.database,
                TableName=OUTPUT_TABLE,
                PartitionInputList=[
                    {
                        "Values": list(p),
                        "StorageDescriptor": {"Location": f"{location}yearmonth={p[0]}/batch_ts={p[1]}/"},
                    }
                    for p in existing[start : start + 100]
                ],
            )
        added, calls[earlier] = requests_of(
            plan, lambda glue=glue, location=location: glue.register_partitions(location, [new])
        )
        assert added == 1
    assert calls[1] == calls[200] == {("glue", "GetPartition"): 1, ("glue", "BatchCreatePartition"): 1}


def test_a_days_run_makes_the_same_requests_on_day_1000(tmp_path, monkeypatch):
    """The whole day's run (six assets) on the aws deployment, counted at the servers: on day 3 (the
    lake, the catalog and both buckets hold two earlier deliveries) and on day 1,000 (997 more). A
    run lists only its own deliveries' folders and reads only the ledger rows of their months."""
    counts = {}
    for history in (0, 997):
        with aws_deployment(tmp_path / f"history-{history}", monkeypatch) as deployment:
            resources = resources_for()
            assert dg.materialize(ASSETS, partition_key="2026-01-03", resources=resources).success
            if history:
                add_history(deployment, history)
            before = deployment.faults.calls.copy()
            result = dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources)
            counts[history] = dict(deployment.faults.calls - before)
            assert result.success
            published = result.asset_materializations_for_node("athena_table")[0].metadata["deliveries published"]
            assert published.value == ["202601/20260105T080000: 240 rows, 0 quarantined"]
            glue = deployment.client("glue")
            registered = len(glue.get_partitions(DatabaseName="focus", TableName=OUTPUT_TABLE)["Partitions"])
            assert registered == 3 + history  # December's final, January's 3rd and 5th
            lake = sum(
                page["KeyCount"]
                for page in deployment.s3.get_paginator("list_objects_v2").paginate(Bucket="focus-lake", Prefix="lake/")
            )
            assert lake >= 3 * history  # the history is there: typed, quarantine and ledger files
    assert counts[0] == counts[997], {
        k: (counts[0].get(k), counts[997].get(k))
        for k in counts[0].keys() | counts[997].keys()
        if counts[0].get(k) != counts[997].get(k)
    }
    assert counts[0][("s3", "LIST")] > 0
