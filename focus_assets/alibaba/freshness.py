"""Late or missing deliveries: a freshness check on raw_oss_export, failing in the UI once the
day's deadline has passed without that day's delivery, and the sensor that evaluates it.

Alibaba stops delivering when the subscription's RAM role is revoked, and a daily file can be
late. At the deadline on day D the check expects raw_oss_export's partition D (end_offset=1 makes
today the newest partition); it fails with severity ERROR until D's delivery has been run, which
Dagster's alerting on asset checks can page someone for.
"""

import warnings

import dagster as dg

from ..deployment_settings import DeliverySchedule
from .assets import raw_oss_export


def delivery_freshness(schedule: DeliverySchedule) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    # Dagster marks these factories superseded by FreshnessPolicy, which judges the newest
    # materialization of any partition, so a backfill of old days would count as fresh: the
    # per-partition check is the one that says whether today's delivery came.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.SupersessionWarning)
        checks = dg.build_time_partition_freshness_checks(
            assets=[raw_oss_export],
            deadline_cron=schedule.deadline_cron,
            timezone=schedule.source_timezone,
            severity=dg.AssetCheckSeverity.ERROR,
        )
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="delivery_freshness",
            minimum_interval_seconds=schedule.sensor_interval_seconds,
        )
    return list(checks), sensor
