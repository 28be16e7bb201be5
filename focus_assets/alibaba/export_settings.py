"""The export's settings a deployment may change, as one Dagster resource (`export_settings`)."""

from dataclasses import replace
from typing import Literal

import dagster as dg

from ..focus.export_layout import ExportLayout
from ..focus.export_sources import DEFAULT_SOURCE
from ..focus.settings import Derivations, Repairs, TransformSettings


class ExportSettings(dg.ConfigurableResource):
    """How the export is read: the transform's settings that a deployment may change."""

    source_timezone: str = "Asia/Shanghai"
    key_pattern: str | None = None  # None: the FinOps Foundation paper's nested time folders
    # A new snapshot whose EffectiveCost falls below this share of the one it replaces is withheld.
    snapshot_min_money_ratio: float = 0.5
    promote_suspicious_snapshots: bool = False

    # Round money with more than 10 decimal places (the reconciliation then shows the difference).
    round_excess_decimals: bool = False
    # pull: Dagster copies the export from OSS into the raw bucket (raw_s3_csv). push: Alibaba's
    # Function Compute copies it on an OSS trigger (deploy/function_compute/); the deployment then
    # reads each export source from its folder of the raw bucket, and raw_s3_csv verifies the copies.
    ingestion_mode: Literal["pull", "push"] = "pull"
    # Catch-up (a backfill of many daily snapshots): type only the newest delivery of each billing
    # month the export bucket holds; older ones are superseded (only the latest is current) and stay
    # in the raw bucket, to be typed on demand by re-running their day with catch_up off.
    catch_up: bool = False
    # Pieces of an export parsed and typed at once: one per core of the run (docs/scaling.md);
    # each one more holds one more piece in memory.
    typing_threads: int = 2
    # The sensor requests a delivery's run once its newest object is this old: Alibaba splits a
    # large bill into several objects that land minutes apart, and a half delivery must not be run.
    settle_seconds: int = 60
    # FOCUS 1.2 columns derived from what Alibaba delivers (settings.Derivations; docs/focus-upgrade.md).
    derive_service_categories: bool = True
    derive_pricing_currency: bool = True
    derive_account_types: bool = True

    def layout(self, export_prefix: str) -> ExportLayout:
        """Where a source's deliveries are in its export bucket (and in its raw folder, under the same
        keys); `export_prefix`: its Bill Subscription's directory, where billing-month folders sit."""
        return ExportLayout(export_prefix, self.transform_settings().key_pattern, self.source_timezone)

    def transform_settings(self, export_source: str = DEFAULT_SOURCE) -> TransformSettings:
        """The transform's settings (focus/settings.py) these give, for reading `export_source`."""
        settings = TransformSettings(
            export_source=export_source,
            source_timezone=self.source_timezone,
            typing_threads=self.typing_threads,
            repairs=Repairs(round_excess_decimals=self.round_excess_decimals),
            derivations=Derivations(
                service_categories=self.derive_service_categories,
                pricing_currency=self.derive_pricing_currency,
                account_types=self.derive_account_types,
            ),
        )
        return replace(settings, key_pattern=self.key_pattern) if self.key_pattern else settings
