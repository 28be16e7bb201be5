"""Storage and catalog faults on the `aws` deployment: the fault injector in front of moto (and of
the OSS adapter) answers the first requests of each service with 500, 503, throttling or a
dropped connection; the run retries and ends exactly as a clean run does. A permanent refusal
fails the step with one line carrying the service's own code and message."""

import os

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.alibaba.export_settings import ExportSettings
from focus_assets.deployment import resources_for
from focus_assets.resources.stores import OssStore

from .helpers import plan_of
from .local_aws import OSS_KEY_ID, OSS_SECRET, TRANSIENT, FaultPlan, aws_deployment

DAYS = ("2026-01-03", "2026-01-05")


def run_days(days=DAYS) -> list[dg.ExecuteInProcessResult]:
    return [dg.materialize(ASSETS, partition_key=day, resources=resources_for(), raise_on_error=False) for day in days]


def test_transient_faults_on_every_service_change_nothing(tmp_path, monkeypatch):
    with aws_deployment(tmp_path / "clean", monkeypatch) as clean:
        assert all(r.success for r in run_days())
        expected = clean.state()
        assert clean.faults.injected == []
    # every kind of fault, twice, on OSS, the raw and the lake buckets, Glue and Athena
    lanes = ("oss", "s3 /focus-raw", "s3 /focus-lake", "glue", "athena")
    plan = FaultPlan(transient={lane: list(TRANSIENT) * 2 for lane in lanes})
    with aws_deployment(tmp_path / "faulty", monkeypatch, plan) as faulty:
        assert all(r.success for r in run_days())
        assert faulty.state() == expected
    assert plan.pending() == {}  # every planned fault was met, and retried
    assert len(plan.injected) == len(lanes) * 2 * len(TRANSIENT)


@pytest.mark.parametrize(
    "service, method, path, failing_step, message",
    [
        (
            "oss",
            "GET",
            "/alibaba-export/bills/",
            "raw_s3_csv",
            "OSS reading oss://alibaba-export/bills/focus-export/202601/20260105T080000/",
        ),
        (
            "s3",
            "PUT",
            "/focus-lake/",
            "typed_focus_parquet",
            "S3 writing s3://focus-lake/lake/focus_alibaba_normalized/",
        ),
        ("glue", "POST", "/", "athena_table", "Glue creating table focus.focus_alibaba_normalized"),
        ("athena", "POST", "/", "provider_views", "Athena query in workgroup primary"),
    ],
)
def test_a_permanent_refusal_fails_the_step_with_the_services_message(
    tmp_path, monkeypatch, service, method, path, failing_step, message
):
    plan = FaultPlan(permanent={service: (method, path)})
    with aws_deployment(tmp_path, monkeypatch, plan):
        [result] = run_days(["2026-01-05"])
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == failing_step
    error = failure.step_failure_data.error
    assert error.cls_name == "Failure"
    text = failure.step_failure_data.user_failure_data.description
    assert message in text and "AccessDenied: Access Denied by the fault injector" in text
    assert "\n" not in text and OSS_SECRET not in text
    later = ASSETS[[a.key.to_user_string() for a in ASSETS].index(failing_step) + 1 :]
    assert not any(result.asset_materializations_for_node(a.key.to_user_string()) for a in later)


def test_the_sensor_plans_the_same_runs_through_faults(tmp_path, monkeypatch):
    plan = FaultPlan(transient={"oss": ["500", "drop", "throttle"]})  # a tick lists three times
    with aws_deployment(tmp_path, monkeypatch, plan):
        store = OssStore(
            endpoint=os.environ["FOCUS_OSS_ENDPOINT"],
            bucket="alibaba-export",
            prefix="bills/",
            access_key_id=OSS_KEY_ID,
            access_key_secret=OSS_SECRET,
        )
        faulty = plan_of(store, ExportSettings(settle_seconds=0), None)
        plan.armed = False
        assert plan_of(store, ExportSettings(settle_seconds=0), None) == faulty
    assert [run.day for run in faulty.runs] == ["2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"]
    assert plan.pending() == {}
