"""The six assets, one partition per delivery day: OSS export → raw S3 copy → typed Parquet →
table and published deliveries → Alibaba views → the cross-provider view.

Thin glue: the transform, the SQL and the stores do the work; the assets pick the day's objects,
call them and attach what a person wants to see in the Dagster UI.
"""

import functools
import json
import warnings
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from typing import Literal

import dagster as dg
import polars as pl
import pyarrow.parquet as pq

from ..focus.export_layout import ExportLayout, delivery_ids, newest_deliveries, newest_of, objects_of_days, superseded
from ..focus.publishing import candidate_deliveries, delivery_files, publish
from ..focus.reconcile import Reconciliation, decimal_text
from ..focus.rules import focus_rule_violations
from ..focus.schema import PARTITION_COLUMNS, arrow_schema, output_columns, unified_columns
from ..focus.settings import Repairs, TransformSettings
from ..focus.source import ExportFileError
from ..focus.transform import convert_object
from ..focus.writer import COMPRESSION, LEDGER_TABLE, OUTPUT_TABLE
from ..resources.athena import AthenaQueryError, CatalogError
from ..resources.stores import ObjectStore, StorageError
from ..resources.warehouse import Warehouse, objects_of
from ..storage.replication import copy_if_changed, verify_copy
from .partitions import delivery_days

GROUP = "alibaba_focus"
OWNERS = ["team:finops-data"]


class ExportSettings(dg.ConfigurableResource):
    """How the export is read: the transform's settings that a deployment may change."""

    source_timezone: str = "Asia/Shanghai"
    key_pattern: str | None = None  # None: the FinOps Foundation paper's nested time folders
    # The OSS directory of the Bill Subscription: billing-month folders (YYYYMM) sit under it.
    export_prefix: str = "focus-export/"
    # A new snapshot whose EffectiveCost falls below this share of the one it replaces is withheld.
    snapshot_min_money_ratio: float = 0.5
    promote_suspicious_snapshots: bool = False

    # Round money with more than 10 decimal places (the reconciliation then shows the difference).
    round_excess_decimals: bool = False
    # pull: Dagster copies the export from OSS into the raw bucket (raw_s3_csv). push: Alibaba's
    # Function Compute copies it on an OSS trigger (deploy/function_compute/); the deployment then
    # gives the raw bucket as export_bucket, and raw_s3_csv verifies the copies it finds.
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

    def layout(self) -> ExportLayout:
        """Where the deliveries are in the export bucket (and in the raw bucket, under the same keys)."""
        return ExportLayout(self.export_prefix, self.transform_settings().key_pattern, self.source_timezone)

    def transform_settings(self) -> TransformSettings:
        settings = TransformSettings(
            source_timezone=self.source_timezone,
            typing_threads=self.typing_threads,
            repairs=Repairs(round_excess_decimals=self.round_excess_decimals),
        )
        return replace(settings, key_pattern=self.key_pattern) if self.key_pattern else settings


# Dagster 1.13 marks two features used here as beta or preview: backfill policies and partitioned
# checks. Dagster is pinned and the tests cover both, so their warnings only add noise to every log.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

# What the six assets share: a partition per delivery day, and a backfill of many days in one run
# (Dagster's per-run cost is paid once; each month's newest delivery in the range is typed once).
DAILY = {
    "partitions_def": delivery_days,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
    "owners": OWNERS,
}


# Failures a user acts on (a bad export file, a storage or query refusal): the step fails with the
# one-line message, which names the object or call and the problem, instead of a traceback.
EXPECTED_FAILURES = (ExportFileError, StorageError, AthenaQueryError, CatalogError)


def fails_clearly(asset_function):
    @functools.wraps(asset_function)
    def run(*args, **kwargs):
        try:
            return asset_function(*args, **kwargs)
        except EXPECTED_FAILURES as exc:
            raise dg.Failure(description=str(exc), metadata={"error": type(exc).__name__}) from None

    return run


OBJECTS_READ = "object list"  # raw_oss_export's metadata: key, bytes, ETag, billing month, batch_ts


@dg.asset(
    **DAILY,
    kinds={"oss"},
    description="The export objects Alibaba delivered that day: key, size, ETag, billing month and delivery stamp "
    "(listed in the OSS bucket; in push mode, in the raw bucket the Function Compute copies into).",
)
@fails_clearly
def raw_oss_export(
    context: dg.AssetExecutionContext, export_bucket: ObjectStore, export_settings: ExportSettings
) -> dg.MaterializeResult:
    export = export_bucket.get_bucket()
    objects, unplaced = objects_of_days(export, export_settings.layout(), context.partition_keys)
    for note in unplaced:
        context.log.warning(f"not placed in any delivery day: {note}")
    return dg.MaterializeResult(
        metadata={
            "objects": len(objects),
            "objects not placed (no delivery stamp, or key refused)": [str(note) for note in unplaced],
            "bytes": sum(o.stored.size for o in objects),
            "deliveries": delivery_ids(objects),
            "bucket": export.describe(),
            "ingestion": export_settings.ingestion_mode,
            # The sensor reads this list back: an object a backfill already read is not run again.
            OBJECTS_READ: dg.MetadataValue.json(
                [
                    {
                        "key": o.stored.key,
                        "bytes": o.stored.size,
                        "etag": o.stored.etag,
                        "billing month": o.delivery.yearmonth,
                        "batch_ts": o.delivery.batch_ts,
                    }
                    for o in objects
                ]
            ),
        }
    )


@dg.asset(
    **DAILY,
    kinds={"s3"},
    deps=[raw_oss_export],
    description="The day's export objects copied byte for byte into the raw bucket under the same key; "
    "objects already there with the same size and ETag are skipped. In push mode (Function "
    "Compute copies them), the copies found are verified against the source's size and ETag.",
)
@fails_clearly
def raw_s3_csv(
    context: dg.AssetExecutionContext,
    export_bucket: ObjectStore,
    raw_bucket: ObjectStore,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    export, raw = export_bucket.get_bucket(), raw_bucket.get_bucket()
    objects, _ = objects_of_days(export, export_settings.layout(), context.partition_keys)
    if export_settings.ingestion_mode == "push":
        problems = [p for item in objects if (p := verify_copy(raw, item.stored.key, item.stored))]
        if problems:
            raise dg.Failure(
                description=f"{len(problems)} copies in {raw.describe()} do not match their "
                f"source: {'; '.join(problems)}",
                metadata={"problems": problems},
            )
        return dg.MaterializeResult(
            metadata={
                "ingestion": "push (copied by Function Compute)",
                "verified": len(objects),
                "bytes": sum(o.stored.size for o in objects),
                "bucket": raw.describe(),
            }
        )
    copied = skipped = copied_bytes = 0
    for item in objects:
        if copy_if_changed(export, raw, item.stored.key, item.stored):
            copied += 1
            copied_bytes += item.stored.size
        else:
            skipped += 1
    return dg.MaterializeResult(
        metadata={
            "ingestion": "pull",
            "copied": copied,
            "skipped (same size and ETag)": skipped,
            "bytes copied": copied_bytes,
            "bucket": raw.describe(),
        }
    )


def _column_schema() -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(c.name, c.kind.athena, description=c.description or c.level) for c in output_columns()]
    )


def day_check(name: str, **kwargs) -> dg.AssetCheckSpec:
    """A check of one delivery day: its result belongs to the day's partition. (Unpartitioned, a
    check of a partitioned asset is recorded as planned for the day and then skipped, beside an
    unpartitioned result, so the UI showed every day's check as skipped.)"""
    return dg.AssetCheckSpec(name, partitions_def=delivery_days, **kwargs)


TYPED_CHECKS = [
    day_check(
        "reconciliation",
        asset="typed_focus_parquet",
        blocking=True,
        description="Rows and BilledCost/EffectiveCost/ListCost per currency: read = written + quarantined.",
    ),
    day_check(
        "schema_stability",
        asset="typed_focus_parquet",
        description="The Parquet written matches the schema module exactly; columns upstream added or "
        "dropped are reported.",
    ),
    day_check(
        "focus_rules",
        asset="typed_focus_parquet",
        description="Mandatory columns not null, allowed values, charge periods inside the billing "
        "period; Alibaba's documented gaps reported apart.",
    ),
]


@dg.asset(
    **DAILY,
    kinds={"polars", "parquet"},
    deps=[raw_s3_csv],
    check_specs=TYPED_CHECKS,
    description=f"The day's raw CSVs typed into FOCUS-aligned {COMPRESSION.upper()} Parquet under "
    "focus_alibaba_normalized/yearmonth=/batch_ts=/, with quarantine and reconciliation.",
)
@fails_clearly
def typed_focus_parquet(
    context: dg.AssetExecutionContext,
    export_bucket: ObjectStore,
    raw_bucket: ObjectStore,
    lake: ObjectStore,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    settings = export_settings.transform_settings()
    export, raw, lake_bucket = export_bucket.get_bucket(), raw_bucket.get_bucket(), lake.get_bucket()
    objects, _ = objects_of_days(raw, export_settings.layout(), context.partition_keys, etags=False)
    skipped = []
    if export_settings.catch_up:  # what the export bucket holds tells which deliveries are superseded
        months = {o.delivery.yearmonth for o in objects if o.delivery.yearmonth}
        objects, skipped = superseded(objects, newest_deliveries(export, export_settings.layout(), months))
    elif len(context.partition_keys) > 1:  # a backfill in one run: each month's newest delivery in the range
        objects, skipped = superseded(objects, newest_of(objects))
    total = Reconciliation()
    outputs, months, repairs = [], set(), defaultdict(int)
    missing, unknown, unwritten = set(), set(), []
    # Written to a staging folder, stored in the lake only when every object converted: a failing
    # day leaves the lake (and what the views show) as it was.
    with lake_bucket.writable_root() as root:
        files = []
        for item in objects:
            with raw.local_copy(item.stored.key) as path:
                report = convert_object(path, item.stored.key, root, settings, last_modified=item.stored.last_modified)
            for member in report.members:
                unwritten += member.unwritten_keys()
                total.merge(member.reconciliation)
                months.add(member.yearmonth)
                missing.update(member.header.missing)
                unknown.update(member.header.extra)
                outputs.extend(
                    lake_bucket.location(p.relative_to(root).as_posix())
                    for p in (member.output, member.quarantine_output)
                    if p
                )
                files.extend([member.output] if member.output else [])
                for name, rows in member.repairs.items():
                    repairs[name] += rows
        checks = [_schema_check(files, sorted(missing), sorted(unknown)), _rules_check(files)]
        preview = _preview(files)
    for key in unwritten:  # e.g. a re-delivery that now has no quarantined rows: none left from before
        lake_bucket.delete(key)
    summary = total.to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary["rows"]["written"],
            "rows read": summary["rows"]["read"],
            "rows quarantined": summary["rows"]["quarantined"],
            "BilledCost per currency": {c: m["BilledCost"]["written"] for c, m in summary["money"].items()},
            "billing months": sorted(m for m in months if m),
            "repairs (rows)": dict(sorted(repairs.items())),
            "superseded deliveries not typed (catch-up)": delivery_ids(skipped),
            "outputs": outputs,
            "dagster/column_schema": _column_schema(),
            "reconciliation": dg.MetadataValue.json(summary),
            "preview": preview,
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="reconciliation",
                passed=summary["reconciled"],
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"rows": summary["rows"], "mismatches": summary["mismatches"]},
            ),
            *checks,
        ],
    )


_PREVIEW_COLUMNS = [
    "ChargePeriodStart",
    "BillingAccountName",
    "ServiceName",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "x_TagProject",
    "x_SourceLine",
]


def _preview(files: list) -> dg.MetadataValue:
    """The first rows of the day's first file, a few columns, as a Markdown table."""
    if not files:
        return dg.MetadataValue.md("(no rows)")
    rows = pl.read_parquet(files[0], columns=_PREVIEW_COLUMNS, n_rows=5)
    lines = ["| " + " | ".join(rows.columns) + " |", "|" + " --- |" * rows.width]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows.iter_rows()]
    return dg.MetadataValue.md("\n".join(lines))


def _schema_check(files: list, missing: list[str], unknown: list[str]) -> dg.AssetCheckResult:
    expected = arrow_schema()
    drift = [str(f) for f in files if not pq.read_schema(f).remove_metadata().equals(expected)]
    if drift:
        return dg.AssetCheckResult(
            check_name="schema_stability",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"files not matching the schema module": drift},
        )
    return dg.AssetCheckResult(
        check_name="schema_stability",
        passed=not (missing or unknown),
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "columns missing upstream (typed nulls)": missing,
            "new columns upstream (in x_ExtraColumns)": unknown,
        },
    )


def _rules_check(files: list) -> dg.AssetCheckResult:
    if not files:
        return dg.AssetCheckResult(check_name="focus_rules", passed=True, metadata={"rows": 0})
    report = focus_rule_violations(pl.scan_parquet(files))
    return dg.AssetCheckResult(
        check_name="focus_rules",
        passed=not report.violations,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"violations (rows)": report.violations, "Alibaba's documented gaps (rows)": report.documented_gaps},
    )


@dg.asset(
    **DAILY,
    kinds={"duckdb"},
    deps=[typed_focus_parquet],
    check_specs=[
        day_check(
            "table_schema",
            asset="athena_table",
            description="The table in the catalog has exactly the schema module's columns, in order, and its partition "
            "columns.",
        ),
        day_check(
            "snapshot_sanity",
            asset="athena_table",
            description="A new snapshot that covers less time or much less money than the one it would replace is "
            "flagged and not published (unless export_settings.promote_suspicious_snapshots).",
        ),
    ],
    description="The table focus_alibaba_normalized and the delivery ledger; the day's deliveries are registered, "
    "then published (a ledger row each), which makes them visible to the views.",
)
@fails_clearly
def athena_table(
    context: dg.AssetExecutionContext,
    raw_bucket: ObjectStore,
    lake: ObjectStore,
    warehouse: Warehouse,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    lake_bucket = lake.get_bucket()
    objects, _ = objects_of_days(raw_bucket.get_bucket(), export_settings.layout(), context.partition_keys, etags=False)
    candidates = candidate_deliveries(objects)
    # Only the folders of the run's own deliveries are listed: the cost of a run stays flat as the
    # lake grows (a delivery superseded in a backfill has no files, and is left out).
    deliveries = [
        files for month, batch_ts in sorted(candidates) if (files := delivery_files(lake_bucket, month, batch_ts)).typed
    ]
    warehouse.register([(d.yearmonth, d.batch_ts) for d in deliveries])  # the table, and these partitions in it
    report = publish(
        lake_bucket,
        deliveries,
        candidates,
        min_money_ratio=export_settings.snapshot_min_money_ratio,
        promote_suspicious=export_settings.promote_suspicious_snapshots,
        storage_options=lake.storage_options(),
    )
    published, withheld = report.published, report.withheld
    warehouse.create({LEDGER_TABLE})
    return dg.MaterializeResult(
        metadata={
            "deliveries published": published,
            "deliveries withheld": withheld,
            "warehouse": warehouse.describe(),
        },
        check_results=[
            _table_schema_check(warehouse),
            dg.AssetCheckResult(
                check_name="snapshot_sanity",
                passed=not withheld,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"withheld": withheld},
            ),
        ],
    )


def _table_schema_check(warehouse: Warehouse) -> dg.AssetCheckResult:
    expected = [c.name for c in output_columns()] + [name for name, _ in PARTITION_COLUMNS]
    actual = warehouse.table_columns(OUTPUT_TABLE)
    names = [name for name, _ in actual]
    # The catalog's type names differ by engine (DuckDB's DECIMAL(38,10), Glue's decimal(38,10)):
    # compared where the catalog speaks the DDL's (Hive) names.
    hive = {c.name: c.kind.athena for c in output_columns()} | dict(PARTITION_COLUMNS)
    types = [
        f"{name}: {kind} (schema: {hive[name]})"
        for name, kind in actual
        if name in hive and kind.islower() and kind.replace(" ", "") != hive[name].replace(" ", "")
    ]
    return dg.AssetCheckResult(
        check_name="table_schema",
        passed=names == expected and not types,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "missing": [n for n in expected if n not in names],
            "unexpected": [n for n in names if n not in expected],
            "order matches": names == expected,
            "type differences": types,
        },
    )


def _amounts(rows: list[tuple]) -> dict[str, str]:
    """(group, currency, amount) rows as {"group currency": exact decimal text}."""
    return {f"{group} {currency}": decimal_text(Decimal(amount)) for group, currency, amount in rows}


@dg.asset(
    **DAILY,
    kinds={"sql"},
    deps=[athena_table],
    description="The Alibaba views: the current snapshot per billing month (alibaba_focus), history, and cost "
    "by day, service, account, region and tag, per currency.",
)
@fails_clearly
def provider_views(warehouse: Warehouse) -> dg.MaterializeResult:
    created = warehouse.create(objects_of("view", "alibaba_"))
    current = warehouse.query(
        "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return dg.MaterializeResult(
        metadata={
            "views": created,
            "current BilledCost per month and currency": _amounts(current),
        }
    )


@dg.asset(
    **DAILY,
    kinds={"sql"},
    deps=[provider_views],
    description="focus_unified: every configured provider's FOCUS data in one shape (FOCUS 1.2 columns, "
    "ServiceProviderName, HostProviderName, source provider and promoted tags).",
)
@fails_clearly
def unified_focus_view(warehouse: Warehouse) -> dg.MaterializeResult:
    created = warehouse.create(objects_of("view", "focus_"))
    totals = warehouse.query(
        "SELECT x_SourceProvider, BillingCurrency, sum(BilledCost) FROM focus_unified GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return dg.MaterializeResult(
        metadata={
            "views": created,
            "BilledCost per provider and currency": _amounts(totals),
            "columns": json.dumps([c.name for c in unified_columns()]),
        }
    )


ASSETS = [raw_oss_export, raw_s3_csv, typed_focus_parquet, athena_table, provider_views, unified_focus_view]
