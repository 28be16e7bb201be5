"""Push mode: Alibaba's Function Compute copies the export into the raw bucket; Dagster lists,
verifies and types only what landed there, and its sensor watches the raw prefix."""

import dagster as dg

from focus_assets.alibaba.assets import ASSETS, ExportSettings
from focus_assets.alibaba.sensors import plan_runs
from focus_assets.demo import push_deliveries
from focus_assets.deployment import local_resources, resources_for
from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .test_dagster_local import materialize_day
from .test_run_safety import current, digests


def test_push_mode_on_the_embedded_default_equals_pull_mode(tmp_path):
    homes = {mode: tmp_path / mode for mode in ("pull", "push")}
    for home in homes.values():
        for delivery in sample_deliveries():
            write_delivery(home / "oss", delivery)
    assert push_deliveries(homes["push"] / "oss", homes["push"] / "raw") == 5
    assert push_deliveries(homes["push"] / "oss", homes["push"] / "raw") == 0  # already there: not copied again
    push = local_resources(homes["push"], "push")
    runs, _, _ = plan_runs(push["export_bucket"], push["export_settings"], None)  # the sensor, on the raw folder
    days = [day for day, _ in runs]
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
    result = dg.materialize(ASSETS, partition_key="2026-01-04", resources=local_resources(tmp_path, "push"),
                            raise_on_error=False)
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "raw_s3_csv"
    text = failure.step_failure_data.user_failure_data.description
    assert "do not match their source" in text and key in text and "bytes, the source had" in text
    assert not result.asset_materializations_for_node("typed_focus_parquet")


def test_push_mode_needs_no_oss_settings(monkeypatch):
    for name in ("FOCUS_OSS_ENDPOINT", "FOCUS_OSS_BUCKET", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = {"FOCUS_DEPLOYMENT": "aws", "FOCUS_INGESTION_MODE": "push", "FOCUS_AWS_REGION": "us-east-1",
                "FOCUS_RAW_BUCKET": "focus-raw", "FOCUS_LAKE_BUCKET": "focus-lake", "FOCUS_ATHENA_OUTPUT": "s3://focus-results/"}
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    resources = resources_for()
    assert resources["export_bucket"] is resources["raw_bucket"]
    assert resources["export_settings"] == ExportSettings(ingestion_mode="push")
