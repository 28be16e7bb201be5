"""Maintenance: re-register every partition of the table, for people who rely on a full repair
(`MSCK REPAIR TABLE` on Athena). Partitions are registered by each run as it goes, so this is a
safety net, not part of the daily path."""

import dagster as dg

from ..focus.publishing import lake_partitions
from ..resources.stores import ObjectStore
from ..resources.warehouse import Warehouse, objects_of


@dg.op(description="Re-registers every partition of the tables from the files in the lake.")
def register_all_partitions(context: dg.OpExecutionContext, lake: ObjectStore, warehouse: Warehouse) -> None:
    partitions = sorted(lake_partitions(lake.get_bucket()))
    warehouse.create(objects_of("table"))
    warehouse.register(partitions)
    context.log.info(f"re-registered {len(partitions)} partitions in {warehouse.describe()}")


@dg.job(description="Re-register every partition (the equivalent of MSCK REPAIR TABLE).")
def maintenance():
    register_all_partitions()


weekly_maintenance = dg.ScheduleDefinition(
    name="weekly_maintenance",
    job=maintenance,
    cron_schedule="0 3 * * 0",
    execution_timezone="Asia/Shanghai",
    description="Sunday 03:00 Asia/Shanghai: re-register every partition.",
)
