"""The six assets, one partition per delivery day: OSS export → raw S3 copy → typed Parquet →
table and published deliveries → Alibaba views → the cross-provider view.

Thin glue: the transform, the SQL and the stores do the work; the assets pick the day's objects,
call them and attach what a person wants to see in the Dagster UI.
"""


import json
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import dagster as dg
import pyarrow.parquet as pq

from ..focus.delivery import Delivery, DeliveryError, delivery_day, resolve_delivery
from ..focus.reconcile import Reconciliation
from ..focus.schema import output_columns
from ..focus.settings import TransformSettings
from ..focus.transform import convert_object
from ..focus.writer import LEDGER_TABLE, OUTPUT_TABLE, QUARANTINE_TABLE, partition_dir, record_delivery
from ..resources.stores import LocalFolderStore, ObjectStore, StoredObject
from ..resources.warehouse import DuckDBWarehouse, objects_of
from .partitions import delivery_days

GROUP = "alibaba_focus"
OWNERS = ["team:finops-data"]
EXPORT_SUFFIXES = (".csv", ".csv.gz", ".gz", ".zip")


class ExportSettings(dg.ConfigurableResource):
    """How the export is read: the transform's settings that a deployment may change."""

    source_timezone: str = "Asia/Shanghai"
    key_pattern: str | None = None  # None: the FinOps Foundation paper's nested time folders
    # The OSS directory of the Bill Subscription: billing-month folders (YYYYMM) sit under it.
    export_prefix: str = "focus-export/"

    def transform_settings(self) -> TransformSettings:
        settings = TransformSettings(source_timezone=self.source_timezone)
        if self.key_pattern:
            settings = TransformSettings(source_timezone=self.source_timezone, key_pattern=self.key_pattern)
        return settings


@dataclass(frozen=True)
class DayObject:
    stored: StoredObject
    delivery: Delivery


def day_objects(store: ObjectStore, settings: TransformSettings, day: str, prefix: str = "") -> list[DayObject]:
    """The export objects that were delivered on `day` (YYYY-MM-DD, source timezone)."""
    found = []
    for stored in store.list_objects(prefix):
        if not stored.key.lower().endswith(EXPORT_SUFFIXES):
            continue
        try:
            delivery = resolve_delivery(stored.key, settings.key_pattern, last_modified=stored.last_modified)
        except DeliveryError:
            continue
        if delivery_day(delivery, stored.last_modified, settings.source_timezone) == day:
            found.append(DayObject(stored, delivery))
    return found


def _deliveries(objects: list[DayObject]) -> list[str]:
    return sorted({f"{o.delivery.yearmonth or '?'}/{o.delivery.batch_ts}" for o in objects})


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"oss"},
    description="The export objects Alibaba delivered that day: key, size, ETag, billing month and delivery stamp.",
)
def raw_oss_export(context: dg.AssetExecutionContext, export_bucket: ObjectStore,
                   export_settings: ExportSettings) -> dg.MaterializeResult:
    objects = day_objects(export_bucket, export_settings.transform_settings(), context.partition_key,
                          export_settings.export_prefix)
    rows = "\n".join(f"| {o.stored.key} | {o.stored.size:,} | {o.stored.etag} | {o.delivery.yearmonth} | "
                     f"{o.delivery.batch_ts} |" for o in objects)
    return dg.MaterializeResult(metadata={
        "objects": len(objects),
        "bytes": sum(o.stored.size for o in objects),
        "deliveries": _deliveries(objects),
        "bucket": export_bucket.describe(),
        "object list": dg.MetadataValue.md(
            "| key | bytes | ETag | billing month | batch_ts |\n| --- | ---: | --- | --- | --- |\n" + rows),
    })


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"s3"}, deps=[raw_oss_export],
    description="The day's export objects copied byte for byte into the raw bucket under the same key; "
                "objects already there with the same size and ETag are skipped.",
)
def raw_s3_csv(context: dg.AssetExecutionContext, export_bucket: ObjectStore, raw_bucket: ObjectStore,
               export_settings: ExportSettings) -> dg.MaterializeResult:
    copied = skipped = copied_bytes = 0
    for item in day_objects(export_bucket, export_settings.transform_settings(), context.partition_key,
                          export_settings.export_prefix):
        existing = raw_bucket.head(item.stored.key)
        if existing is not None and (existing.size, existing.etag) == (item.stored.size, item.stored.etag):
            skipped += 1
            continue
        with export_bucket.local_copy(item.stored.key) as path:
            raw_bucket.upload(path, item.stored.key, etag=item.stored.etag)
        copied += 1
        copied_bytes += item.stored.size
    return dg.MaterializeResult(metadata={
        "copied": copied, "skipped (same size and ETag)": skipped, "bytes copied": copied_bytes,
        "bucket": raw_bucket.describe(),
    })


def _column_schema() -> dg.TableSchema:
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.kind.athena, description=c.description or c.level) for c in output_columns()])


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"polars", "parquet"}, deps=[raw_s3_csv],
    description="The day's raw CSVs typed into FOCUS-aligned Snappy Parquet under "
                "focus_alibaba_normalized/yearmonth=/batch_ts=/, with quarantine and reconciliation.",
)
def typed_focus_parquet(context: dg.AssetExecutionContext, raw_bucket: ObjectStore, lake: LocalFolderStore,
                        export_settings: ExportSettings) -> dg.MaterializeResult:
    settings = export_settings.transform_settings()
    total = Reconciliation()
    outputs, months, repairs = [], set(), defaultdict(int)
    for item in day_objects(raw_bucket, settings, context.partition_key, export_settings.export_prefix):
        with raw_bucket.local_copy(item.stored.key) as path:
            report = convert_object(path, item.stored.key, lake.base, settings, last_modified=item.stored.last_modified)
        for member in report.members:
            total.merge(member.reconciliation)
            months.add(member.yearmonth)
            outputs.extend(str(p) for p in (member.output, member.quarantine_output) if p)
            for name, rows in member.repairs.items():
                repairs[name] += rows
    summary = total.to_dict()
    if not summary["reconciled"]:
        raise dg.Failure("output does not reconcile with input: " + "; ".join(summary["mismatches"]))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": summary["rows"]["written"],
        "rows read": summary["rows"]["read"],
        "rows quarantined": summary["rows"]["quarantined"],
        "BilledCost per currency": {c: m["BilledCost"]["written"] for c, m in summary["money"].items()},
        "billing months": sorted(m for m in months if m),
        "repairs (rows)": dict(sorted(repairs.items())),
        "outputs": outputs,
        "dagster/column_schema": _column_schema(),
        "reconciliation": dg.MetadataValue.json(summary),
    })


def _parquet_rows(folder) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet")) if folder.exists() else 0


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"duckdb"}, deps=[typed_focus_parquet],
    description="The table focus_alibaba_normalized and the delivery ledger; the day's deliveries are registered, "
                "then published (a ledger row each), which makes them visible to the views.",
)
def athena_table(context: dg.AssetExecutionContext, raw_bucket: ObjectStore, lake: LocalFolderStore,
                 warehouse: DuckDBWarehouse, export_settings: ExportSettings) -> dg.MaterializeResult:
    objects = day_objects(raw_bucket, export_settings.transform_settings(), context.partition_key,
                          export_settings.export_prefix)
    batches = defaultdict(int)
    for item in objects:
        batches[item.delivery.batch_ts] += 1
    warehouse.create(objects_of("table"))  # the partitions now on disk are registered
    published = []
    for batch_ts, count in sorted(batches.items()):
        for folder in sorted((lake.base / OUTPUT_TABLE).glob(f"yearmonth=*/batch_ts={batch_ts}")):
            month = folder.parent.name.split("=", 1)[1]
            written = _parquet_rows(folder)
            quarantined = _parquet_rows(partition_dir(lake.base, QUARANTINE_TABLE, month, batch_ts))
            record_delivery(lake.base, month, batch_ts, count, written, quarantined)
            published.append(f"{month}/{batch_ts}: {written} rows, {quarantined} quarantined")
    warehouse.create({LEDGER_TABLE})
    return dg.MaterializeResult(metadata={"deliveries published": published, "warehouse": warehouse.describe()})


def _money_per_currency(rows: list[tuple]) -> dict:
    return {f"{month} {currency}": str(Decimal(billed).normalize()) for month, currency, billed in rows}


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"sql"}, deps=[athena_table],
    description="The Alibaba views: the current snapshot per billing month (alibaba_focus), history, and cost "
                "by day, service, account, region and tag, per currency.",
)
def provider_views(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    created = warehouse.create(objects_of("view", "alibaba_"))
    current = warehouse.query(
        "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY ALL ORDER BY ALL")
    return dg.MaterializeResult(metadata={
        "views": created, "current BilledCost per month and currency": _money_per_currency(current),
    })


@dg.asset(
    partitions_def=delivery_days, group_name=GROUP, owners=OWNERS, kinds={"sql"}, deps=[provider_views],
    description="focus_unified: every configured provider's FOCUS data in one shape (FOCUS 1.2 columns, "
                "ServiceProviderName, HostProviderName, source provider and promoted tags).",
)
def unified_focus_view(warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    created = warehouse.create(objects_of("view", "focus_"))
    totals = warehouse.query(
        "SELECT x_SourceProvider, BillingCurrency, sum(BilledCost) FROM focus_unified GROUP BY ALL ORDER BY ALL")
    return dg.MaterializeResult(metadata={
        "views": created,
        "BilledCost per provider and currency": {f"{p} {c}": str(Decimal(b).normalize()) for p, c, b in totals},
        "columns": json.dumps([c for c, *_ in warehouse.query("DESCRIBE focus_unified")]),
    })


ASSETS = [raw_oss_export, raw_s3_csv, typed_focus_parquet, athena_table, provider_views, unified_focus_view]
