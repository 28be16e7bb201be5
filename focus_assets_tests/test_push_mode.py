"""Push mode: Alibaba's Function Compute copies the export into the raw bucket; Dagster lists,
verifies and types only what landed there, and its sensor watches the raw prefix."""

import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg

from focus_assets.alibaba.assets import ASSETS
from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.alibaba.sensors import plan_runs
from focus_assets.definitions import defs
from focus_assets.demo import push_deliveries
from focus_assets.deployment import local_resources, resources_for
from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .helpers import digests
from .local_aws import OSS_KEY_ID, OSS_SECRET, aws_deployment
from .test_dagster_local import materialize_day
from .test_run_safety import current

FUNCTION = Path(__file__).resolve().parents[1] / "deploy" / "function_compute" / "index.py"


def test_push_mode_on_the_embedded_default_equals_pull_mode(tmp_path):
    homes = {mode: tmp_path / mode for mode in ("pull", "push")}
    for home in homes.values():
        for delivery in sample_deliveries():
            write_delivery(home / "oss", delivery)
    assert push_deliveries(homes["push"] / "oss", homes["push"] / "raw") == 5
    assert push_deliveries(homes["push"] / "oss", homes["push"] / "raw") == 0  # already there: not copied again
    push = local_resources(homes["push"], "push")
    settled = push["export_settings"].model_copy(update={"settle_seconds": 0})
    days = [
        run.day for run in plan_runs(push["export_sources"], settled, None, raw_bucket=push["raw_bucket"]).runs
    ]  # the sensor, on the raw folder
    assert days == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    pull = local_resources(homes["pull"])
    for day in days:
        pushed, pulled = materialize_day(push, day), materialize_day(pull, day)
        assert pushed["raw_s3_csv"]["verified"] == pulled["raw_s3_csv"]["copied"] == pushed["raw_oss_export"]["objects"]
        assert pushed["typed_focus_parquet"]["reconciliation"] == pulled["typed_focus_parquet"]["reconciliation"]
    assert current(push) == current(pull)
    assert digests(homes["push"] / "lake") == digests(homes["pull"] / "lake")


def test_a_copy_that_does_not_match_its_source_fails_the_day(tmp_path):
    for delivery in sample_deliveries():
        write_delivery(tmp_path / "oss", delivery)
    push_deliveries(tmp_path / "oss", tmp_path / "raw")
    key = next(d.key for d in sample_deliveries() if d.batch_ts.startswith("20260104"))
    (tmp_path / "raw" / key).write_bytes((tmp_path / "raw" / key).read_bytes()[:-10])  # cut short after landing
    result = dg.materialize(
        ASSETS, partition_key="2026-01-04", resources=local_resources(tmp_path, "push"), raise_on_error=False
    )
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "raw_s3_csv"
    text = failure.step_failure_data.user_failure_data.description
    assert "do not match their source" in text and key in text and "bytes, the source had" in text
    assert not result.asset_materializations_for_node("typed_focus_parquet")


def test_push_mode_needs_no_oss_settings(monkeypatch):
    for name in ("FOCUS_OSS_ENDPOINT", "FOCUS_OSS_BUCKET", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "FOCUS_DEPLOYMENT": "aws",
        "FOCUS_INGESTION_MODE": "push",
        "FOCUS_AWS_REGION": "us-east-1",
        "FOCUS_RAW_BUCKET": "focus-raw",
        "FOCUS_LAKE_BUCKET": "focus-lake",
        "FOCUS_ATHENA_OUTPUT": "s3://focus-results/",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    resources = resources_for()
    assert [(s.name, s.folder, s.oss_bucket) for s in resources["export_sources"].sources] == [("default", None, None)]
    assert resources["export_settings"] == ExportSettings(ingestion_mode="push")


def load_function():
    """deploy/function_compute/index.py, as Function Compute loads it."""
    spec = importlib.util.spec_from_file_location("function_compute_index", FUNCTION)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    levels = {name: logging.getLogger(name).level for name in ("oss2", "botocore", "boto3", "s3transfer", "urllib3")}
    spec.loader.exec_module(module)
    for name, level in levels.items():  # the function quiets client loggers; other tests want them as they were
        logging.getLogger(name).setLevel(level)
    return module


def oss_trigger(key: str, size: int, etag: str) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "eventName": "ObjectCreated:PutObject",
                    "eventSource": "acs:oss",
                    "eventTime": "2026-01-05T00:00:00.000Z",
                    "eventVersion": "1.0",
                    "region": "cn-hangzhou",
                    "oss": {
                        "bucket": {
                            "arn": "acs:oss:cn-hangzhou:1234567890:alibaba-export",
                            "name": "alibaba-export",
                            "ownerIdentity": "1234567890",
                        },
                        "object": {"deltaSize": size, "eTag": etag.upper(), "key": key, "size": size},
                        "ossSchemaVersion": "1.0",
                        "ruleId": "focus-export-rule",
                    },
                    "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                    "responseElements": {"requestId": "0"},
                    "userIdentity": {"principalId": "1234567890"},
                }
            ]
        }
    ).encode()


def test_push_mode_on_aws_the_function_then_the_s3_sensor_then_the_same_lake_as_pull(tmp_path, monkeypatch):
    days = ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    materialized = days[1::2]  # two of them are enough to compare, and keep the test short
    with aws_deployment(tmp_path / "pull", monkeypatch) as pulled:
        for day in materialized:
            assert dg.materialize(ASSETS, partition_key=day, resources=resources_for()).success
        expected = pulled.state()

    with aws_deployment(tmp_path / "push", monkeypatch) as pushed:
        function = load_function()
        for name, value in {
            "S3_BUCKET_NAME": "focus-raw",
            "S3_PREFIX": "alibaba",
            "S3_REGION": "us-east-1",
            "S3_ENDPOINT_URL": pushed.endpoint,
            "OSS_ENDPOINT": os.environ["FOCUS_OSS_ENDPOINT"],
            "OSS_PREFIX": "bills",
            "EXPORT_PREFIX": "focus-export/",
        }.items():
            monkeypatch.setenv(name, value)
        context = SimpleNamespace(
            credentials=SimpleNamespace(access_key_id=OSS_KEY_ID, access_key_secret=OSS_SECRET, security_token=None),
            request_id="test",
        )
        for stored in pushed.s3.list_objects_v2(Bucket="alibaba-export")["Contents"]:  # one trigger per object
            if not any(stored["Key"].split("/")[-2].startswith(day.replace("-", "")) for day in materialized):
                continue  # the other days' objects stay in OSS
            result = json.loads(
                function.handler(oss_trigger(stored["Key"], stored["Size"], stored["ETag"].strip('"')), context)
            )
            assert len(result["copied"]) == 1, result
        monkeypatch.setenv("FOCUS_INGESTION_MODE", "push")
        monkeypatch.setenv("FOCUS_SETTLE_SECONDS", "0")  # the copies landed a moment ago
        for name in ("FOCUS_OSS_ENDPOINT", "FOCUS_OSS_BUCKET", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
            monkeypatch.delenv(name)  # the AWS side has no access to OSS
        resources = resources_for()
        sensor = defs.get_sensor_def("new_alibaba_deliveries")  # ticked with the push-mode resources: lists S3
        with (
            dg.instance_for_test() as instance,
            dg.build_sensor_context(resources=resources, instance=instance) as context,
        ):
            tick = sensor(context)
        assert sorted(r.partition_key for r in tick.run_requests) == materialized
        for day in materialized:
            result = dg.materialize(ASSETS, partition_key=day, resources=resources)
            assert result.success
            assert result.asset_materializations_for_node("raw_s3_csv")[0].metadata["verified"].value >= 1
        assert pushed.state() == expected  # raw copies, typed Parquet, ledger, Glue and SQL: as in pull mode
