"""The Dagster definitions: `dagster dev` (see workspace.yaml) and `make ui` load `defs`."""

import dagster as dg

from .alibaba.assets import ASSETS, athena_table, provider_views, unified_focus_view
from .alibaba.conformance import conformance_checks
from .alibaba.freshness import delivery_freshness
from .alibaba.maintenance import maintenance, weekly_maintenance
from .alibaba.partitions import SCHEDULE
from .alibaba.sensors import alibaba_sensor
from .deployment import resources_for
from .reporting.assets import REPORT_ASSETS
from .resources.warehouse import Warehouse


def with_engine_kinds(assets: list[dg.AssetsDefinition], warehouse: Warehouse) -> list[dg.AssetsDefinition]:
    """The table and view assets tagged with the deployment's engine (duckdb, or athena/glue/s3)."""
    kinds = {
        athena_table.key: warehouse.TABLE_KINDS,
        provider_views.key: warehouse.VIEW_KINDS,
        unified_focus_view.key: warehouse.VIEW_KINDS,
    }
    return [
        asset.map_asset_specs(lambda spec: spec.replace_attributes(kinds=set(kinds[spec.key])))
        if asset.key in kinds
        else asset
        for asset in assets
    ]


delivery_freshness_checks, delivery_freshness_sensor = delivery_freshness(SCHEDULE)

alibaba_daily = dg.define_asset_job(
    "alibaba_daily",
    # The freshness check judges the newest day, not the run's: the sensor delivery_freshness
    # evaluates it (again after each new materialization), so a day's run leaves it out.
    selection=dg.AssetSelection.assets(*ASSETS, *REPORT_ASSETS) - dg.AssetSelection.checks(*delivery_freshness_checks),
    description="Every asset for one delivery day: copy, type, register and publish, refresh the views; then "
    "the cost report (not partitioned: it renders the whole warehouse).",
)

resources = resources_for()

defs = dg.Definitions(
    assets=[*with_engine_kinds(ASSETS, resources["warehouse"]), *REPORT_ASSETS],
    # focus_conformance (FOCUS validator) only when FOCUS_VALIDATOR is set: see alibaba/conformance.py
    asset_checks=[*delivery_freshness_checks, *conformance_checks(resources["warehouse"])],
    jobs=[alibaba_daily, maintenance],
    schedules=[weekly_maintenance],
    sensors=[alibaba_sensor(alibaba_daily), delivery_freshness_sensor],
    resources=resources,
    # A run's steps form one chain (copy, type, register, publish, views, report), so a process per
    # step (Dagster's default) runs nothing in parallel and costs each step a fresh interpreter and
    # import (measured: docs/scaling.md, "Inside a run"). Parallelism is per partition: days
    # run side by side (run queue, run launcher).
    executor=dg.in_process_executor,
)
