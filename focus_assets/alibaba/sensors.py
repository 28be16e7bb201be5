"""`new_alibaba_deliveries`: start a run for each delivery day with new or changed export objects.

The sensor is thin: `focus/delivery_watch.py` decides what to run, what waits and what is
skipped, and keeps the cursor (plain JSON, so it survives a restart of the daemon). An object is
recorded as seen only when its run is requested; whatever waits or is skipped is logged with its
reason and looked at again on the next tick. Each export source has its own cursor, inside the
sensor's.
"""

from collections.abc import Callable, Mapping
from datetime import datetime

import dagster as dg

from ..focus.delivery_watch import TickPlan, plan_sources_tick, utc_now
from ..resources.stores import ExportSources, ObjectStore
from .asset_options import OBJECTS_READ, open_sources
from .assets import raw_oss_export
from .export_settings import ExportSettings
from .partitions import SCHEDULE, delivery_days


def plan_runs(
    export_sources: ExportSources,
    export_settings: ExportSettings,
    cursor: str | None,
    now: datetime | None = None,
    first_day: str | None = None,
    day_objects_read: Callable[[str], Mapping[str, str]] = lambda day: {},
    raw_bucket: ObjectStore | None = None,
) -> TickPlan:
    """The tick's plan for the delivery-day partitions that exist at `now` (default: the clock),
    from `first_day` (default: the partitions' first day), over every export source. `raw_bucket`:
    where push-mode sources are read."""
    return plan_sources_tick(
        open_sources(export_sources, raw_bucket, export_settings),
        cursor,
        now=now or utc_now(),
        first_day=first_day or delivery_days.start.strftime("%Y-%m-%d"),
        settle_seconds=export_settings.settle_seconds,
        day_objects_read=day_objects_read,
    )


def objects_read_by_latest_run(instance: dg.DagsterInstance) -> Callable[[str], Mapping[str, str]]:
    """The objects (key: ETag) that the latest materialization of raw_oss_export for a day listed
    (a backfill's run, or the sensor's own), from the instance."""

    def objects_read(day: str) -> Mapping[str, str]:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=raw_oss_export.key, asset_partitions=[day]), limit=1
        ).records
        if not records or records[0].asset_materialization is None:
            return {}
        listed = records[0].asset_materialization.metadata.get(OBJECTS_READ)
        return {row["key"]: row["etag"] for row in listed.value} if listed is not None else {}

    return objects_read


def alibaba_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(
        name="new_alibaba_deliveries",
        job=job,
        minimum_interval_seconds=SCHEDULE.sensor_interval_seconds,
        description="Starts a run for each delivery day with new or re-delivered export objects, once the "
        "delivery has been unchanged for the settle time.",
    )
    def new_alibaba_deliveries(
        context: dg.SensorEvaluationContext,
        export_sources: ExportSources,
        raw_bucket: ObjectStore,
        export_settings: ExportSettings,
    ):
        plan = plan_runs(
            export_sources,
            export_settings,
            context.cursor,
            day_objects_read=objects_read_by_latest_run(context.instance),
            raw_bucket=raw_bucket,
        )
        for note in plan.waiting:
            context.log.info(f"waiting: {note}")
        for note in plan.skipped:
            context.log.warning(f"skipped: {note}")
        for note in plan.covered:
            context.log.info(f"recorded without a run: {note}")
        requests = [dg.RunRequest(run_key=run.run_key, partition_key=run.day) for run in plan.runs]
        for run in plan.runs:
            context.log.info(f"{run.day}: run requested for {len(run.keys)} object(s): {', '.join(run.keys)}")
        if not requests:
            return dg.SensorResult(skip_reason=plan.summary(), cursor=plan.cursor)
        return dg.SensorResult(run_requests=requests, cursor=plan.cursor)

    return new_alibaba_deliveries
