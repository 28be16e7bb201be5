"""The Dagster definitions: `dagster dev` (see workspace.yaml) and `make ui` load `defs`."""

import dagster as dg

from .alibaba.assets import ASSETS
from .alibaba.maintenance import maintenance, weekly_maintenance
from .alibaba.sensors import alibaba_sensor
from .deployment import resources_for

alibaba_daily = dg.define_asset_job(
    "alibaba_daily", selection=dg.AssetSelection.assets(*ASSETS),
    description="Every asset for one delivery day: copy, type, register and publish, refresh the views.",
)

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[alibaba_daily, maintenance],
    schedules=[weekly_maintenance],
    sensors=[alibaba_sensor(alibaba_daily)],
    resources=resources_for(),
)
