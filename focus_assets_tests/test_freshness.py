"""The freshness check on raw_oss_export, against the real clock: once the day's deadline has passed
without the day's delivery it fails (severity ERROR) naming the day it expected; the delivery's
run brings it back to passing. The deadline is set a minute before or after now, so the test
exercises what a deployment sees at any time of day."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from focus_assets.alibaba.assets import raw_oss_export
from focus_assets.alibaba.freshness import delivery_freshness
from focus_assets.deployment import local_resources
from focus_assets.deployment_settings import DeliverySchedule
from focus_assets.samples.alibaba import ACCOUNTS, SampleDelivery, write_delivery

SHANGHAI = ZoneInfo("Asia/Shanghai")


def schedule_with_deadline(moment: datetime) -> tuple[DeliverySchedule, str]:
    """A schedule whose daily deadline is `moment`'s minute (UTC+8), and the day whose delivery that
    deadline expects at the current time: the date of the newest deadline already passed."""
    local = moment.astimezone(SHANGHAI).replace(second=0, microsecond=0)
    schedule = DeliverySchedule(delivery_deadline=f"{local:%H:%M}")
    now = datetime.now(SHANGHAI)
    passed = local if local <= now else local - timedelta(days=1)
    return schedule, f"{passed:%Y-%m-%d}"


def deliver(home, moment: datetime) -> str:
    """A delivery stamped `moment` into the export folder; returns its delivery day."""
    local = moment.astimezone(SHANGHAI)
    month, stamp = f"{local:%Y%m}", f"{local:%Y%m%dT%H%M%S}"
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    write_delivery(
        home / "oss",
        SampleDelivery(
            f"focus-export/{month}/{stamp}/{account}_{site}_BillingItemDetail_{month}.csv",
            month,
            stamp,
            max(local.day - 1, 1),
        ),
        rows_per_day=3,
    )
    return f"{local:%Y-%m-%d}"


def run_check(checks, resources, instance) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [raw_oss_export, *checks], selection=dg.AssetSelection.checks(*checks), resources=resources, instance=instance
    )
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_overdue_until_the_days_delivery_is_run(tmp_path):
    now = datetime.now(UTC)
    schedule, expected_day = schedule_with_deadline(now - timedelta(minutes=1))
    checks, _ = delivery_freshness(schedule)
    resources = local_resources(tmp_path)
    with dg.instance_for_test() as instance:
        missing = run_check(checks, resources, instance)
        assert not missing.passed and missing.severity == dg.AssetCheckSeverity.ERROR
        assert f"partition {expected_day}" in missing.description
        day = deliver(tmp_path, datetime.fromisoformat(expected_day).replace(hour=12, tzinfo=SHANGHAI))
        assert dg.materialize([raw_oss_export], partition_key=day, resources=resources, instance=instance).success
        arrived = run_check(checks, resources, instance)
        assert arrived.passed and f"partition {expected_day}" in arrived.description


def test_before_the_deadline_today_is_not_yet_expected(tmp_path):
    """A minute before today's deadline, today's delivery may still come: the check looks at the
    previous deadline's day, and yesterday's delivery satisfies it."""
    now = datetime.now(UTC)
    schedule, expected_day = schedule_with_deadline(now + timedelta(minutes=3))
    today = now.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    checks, _ = delivery_freshness(schedule)
    resources = local_resources(tmp_path)
    with dg.instance_for_test() as instance:
        deliver(tmp_path, now)  # today's delivery (does not satisfy an earlier day)
        assert dg.materialize([raw_oss_export], partition_key=today, resources=resources, instance=instance).success
        if expected_day != today:  # the usual case; at 23:59 UTC+8 the next deadline is tomorrow's 00:00
            early = run_check(checks, resources, instance)
            assert not early.passed and f"partition {expected_day}" in early.description
        deliver(tmp_path, datetime.fromisoformat(expected_day).replace(hour=12, tzinfo=SHANGHAI))
        assert dg.materialize(
            [raw_oss_export], partition_key=expected_day, resources=resources, instance=instance
        ).success
        assert run_check(checks, resources, instance).passed


def test_the_sensor_evaluates_the_check_and_again_once_the_late_delivery_has_run(tmp_path):
    """The daily job leaves the freshness check out (it judges the newest day, not the run's); the
    sensor delivery_freshness asks for an evaluation when there has been none, not again while it
    is failing, and again once the late delivery has been run."""
    from focus_assets.definitions import defs

    key = dg.AssetCheckKey(raw_oss_export.key, "freshness_check")
    assert key not in defs.resolve_job_def("alibaba_daily").asset_layer.asset_graph.asset_check_keys
    now = datetime.now(UTC)
    schedule, expected_day = schedule_with_deadline(now - timedelta(minutes=1))
    checks, sensor = delivery_freshness(schedule)
    resources = local_resources(tmp_path)
    definitions = dg.Definitions(assets=[raw_oss_export], asset_checks=checks, sensors=[sensor], resources=resources)

    def requested(instance) -> list:
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=definitions))
        return [k for request in result.run_requests for k in request.asset_check_keys]

    with dg.instance_for_test() as instance:
        assert requested(instance) == [key]  # never evaluated
        assert not run_check(checks, resources, instance).passed  # the day's delivery is late
        assert requested(instance) == []  # failing: nothing to gain from evaluating it again
        deliver(tmp_path, datetime.fromisoformat(expected_day).replace(hour=12, tzinfo=SHANGHAI))
        assert dg.materialize(
            [raw_oss_export], partition_key=expected_day, resources=resources, instance=instance
        ).success
        assert requested(instance) == [key]  # the late delivery was run: evaluate again
        assert run_check(checks, resources, instance).passed
