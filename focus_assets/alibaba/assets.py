"""The six assets, one partition per delivery day: OSS export → raw S3 copy → typed Parquet →
table and published deliveries → Alibaba views → the cross-provider view.

Thin glue: the transform, the SQL and the stores do the work; the assets pick the day's objects,
call them and attach what a person wants to see in the Dagster UI. Figures a person follows day
by day (rows, money per currency) are also numeric metadata, so each asset's Plots chart them.
"""

import json
from decimal import Decimal

import dagster as dg
import polars as pl

from ..focus.export_layout import (
    ExportObject,
    delivery_ids,
    newest_deliveries,
    newest_of,
    objects_of_days,
    superseded,
)
from ..focus.export_sources import SourceBuckets, shown
from ..focus.publishing import candidate_deliveries, delivery_files, publish
from ..focus.reconcile import decimal_text
from ..focus.rules import header_report
from ..focus.schema import output_columns, unified_columns
from ..focus.transform import ObjectsReport, convert_objects
from ..focus.writer import COMPRESSION, LEDGER_TABLE
from ..resources.stores import ExportSources, ObjectStore
from ..resources.warehouse import Warehouse, objects_of
from ..storage.replication import copy_if_changed, verify_copy
from .asset_options import DAILY, OBJECTS_READ, fails_clearly, open_sources
from .checks import (
    COLUMNS_ADDED,
    COLUMNS_MISSING,
    EXPORT_CHECKS,
    TABLE_CHECKS,
    TYPED_CHECKS,
    every_source_delivered_result,
    focus_rules_result,
    previous_header,
    reconciliation_result,
    schema_stability_result,
    snapshot_sanity_result,
    table_schema_result,
)
from .export_settings import ExportSettings


def money_metadata(name: str, amounts: dict[str, str]) -> dict[str, float]:
    """{"<name> <key>": float} beside the exact decimal text, for the UI's Plots (floats chart;
    the exact figures stay in the text metadata and the tables)."""
    return {f"{name} {key}": float(Decimal(amount)) for key, amount in amounts.items()}


@dg.asset(
    **DAILY,
    kinds={"oss"},
    check_specs=EXPORT_CHECKS,
    description="The export objects Alibaba delivered that day, from every export source: key, size, ETag, "
    "billing month and delivery stamp (listed in each source's OSS bucket; in push mode, in the raw "
    "bucket the Function Compute copies into).",
)
@fails_clearly
def raw_oss_export(
    context: dg.AssetExecutionContext,
    export_sources: ExportSources,
    raw_bucket: ObjectStore,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    listed, unplaced_notes, deliveries, buckets, delivered = [], [], [], [], {}
    for source in open_sources(export_sources, raw_bucket, export_settings):
        objects, unplaced = objects_of_days(source.export, source.layout, context.partition_keys)
        delivered[source.name] = {o.day for o in objects}
        listed += [(source, o) for o in objects]
        unplaced_notes += [shown(source.name, str(note)) for note in unplaced]
        deliveries += [shown(source.name, d) for d in delivery_ids(objects)]
        buckets.append(source.export.describe())
    for note in unplaced_notes:
        context.log.warning(f"not placed in any delivery day: {note}")
    return dg.MaterializeResult(
        metadata={
            "objects": len(listed),
            "objects not placed (no delivery stamp, or key refused)": unplaced_notes,
            "bytes": sum(o.stored.size for _, o in listed),
            "deliveries": deliveries,
            "bucket": "; ".join(buckets),
            "ingestion": export_settings.ingestion_mode,
            # The sensor reads this list back: an object a backfill already read is not run again.
            # Keys as in the raw bucket, which are unique across sources.
            OBJECTS_READ: dg.MetadataValue.json(
                [
                    {
                        "key": source.raw_key(o.stored.key),
                        "source": source.name,
                        "bytes": o.stored.size,
                        "etag": o.stored.etag,
                        "billing month": o.delivery.yearmonth,
                        "batch_ts": o.delivery.batch_ts,
                    }
                    for source, o in listed
                ]
            ),
        },
        check_results=[every_source_delivered_result(context.partition_keys, delivered)],
    )


@dg.asset(
    **DAILY,
    kinds={"s3"},
    deps=[raw_oss_export],
    description="The day's export objects copied byte for byte into the raw bucket under the same key (a named "
    "export source's under its own folder); objects already there with the same size and ETag are skipped. In "
    "push mode (Function Compute copies them), the copies found are verified against the source's size and ETag.",
)
@fails_clearly
def raw_s3_csv(
    context: dg.AssetExecutionContext,
    export_sources: ExportSources,
    raw_bucket: ObjectStore,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    sources = open_sources(export_sources, raw_bucket, export_settings)
    day_objects = [(s, o) for s in sources for o in objects_of_days(s.export, s.layout, context.partition_keys)[0]]
    raw = raw_bucket.get_bucket()
    if export_settings.ingestion_mode == "push":
        problems = [p for s, item in day_objects if (p := verify_copy(s.raw, item.stored.key, item.stored))]
        if problems:
            raise dg.Failure(
                description=f"{len(problems)} copies in {raw.describe()} do not match their "
                f"source: {'; '.join(problems)}",
                metadata={"problems": problems},
            )
        return dg.MaterializeResult(
            metadata={
                "ingestion": "push (copied by Function Compute)",
                "verified": len(day_objects),
                "bytes": sum(o.stored.size for _, o in day_objects),
                "bucket": raw.describe(),
            }
        )
    copied = skipped = copied_bytes = 0
    for source, item in day_objects:
        if copy_if_changed(source.export, source.raw, item.stored.key, item.stored):
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
    export_sources: ExportSources,
    raw_bucket: ObjectStore,
    lake: ObjectStore,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    lake_bucket = lake.get_bucket()
    report, skipped = ObjectsReport(), []
    # Written to a staging folder, stored in the lake only when every object of every source
    # converted: a failing day leaves the lake (and what the views show) as it was.
    with lake_bucket.writable_root() as root:
        for source in open_sources(export_sources, raw_bucket, export_settings):
            objects, superseded_objects = _objects_to_type(source, context.partition_keys, export_settings.catch_up)
            skipped += [shown(source.name, d) for d in delivery_ids(superseded_objects)]
            settings = export_settings.transform_settings(source.name)
            report.members += convert_objects(source.raw, objects, root, settings).members
        files = report.typed_files
        header = header_report(report.columns_missing, report.columns_added, previous_header(context))
        checks = [schema_stability_result(files, header), focus_rules_result(files)]
        preview = _preview(files)
        outputs = [lake_bucket.location(p.relative_to(root).as_posix()) for p in report.written_files]
    for key in report.unwritten_keys:  # e.g. a re-delivery that now has no quarantined rows: none left from before
        lake_bucket.delete(key)
    summary = report.reconciliation.to_dict()
    billed = {c: m["BilledCost"]["written"] for c, m in summary["money"].items()}
    # The header's gaps are recorded only for a day that typed something: the next delivery compares with them.
    header_metadata = {COLUMNS_MISSING: header.missing, COLUMNS_ADDED: header.added} if report.members else {}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": summary["rows"]["written"],
            "rows read": summary["rows"]["read"],
            "rows quarantined": summary["rows"]["quarantined"],
            "BilledCost per currency": billed,
            **money_metadata("BilledCost", billed),
            "billing months": report.billing_months,
            "repairs (rows)": report.repairs,
            "services not in the service map (rows)": report.unmapped_services,
            "superseded deliveries not typed (catch-up)": skipped,
            **header_metadata,
            "outputs": outputs,
            "dagster/column_schema": _column_schema(),
            "reconciliation": dg.MetadataValue.json(summary),
            "preview": preview,
        },
        check_results=[reconciliation_result(report.reconciliation), *checks],
    )


def _objects_to_type(
    source: SourceBuckets, days: list[str], catch_up: bool
) -> tuple[list[ExportObject], list[ExportObject]]:
    """(the source's objects of these days to type, those of deliveries a newer one replaces)."""
    objects, _ = objects_of_days(source.raw, source.layout, days, etags=False)
    if catch_up:  # what the export bucket holds tells which deliveries are superseded
        newest = newest_deliveries(
            source.export, source.layout, {o.delivery.yearmonth for o in objects if o.delivery.yearmonth}
        )
    elif len(days) > 1:  # a backfill in one run: each month's newest delivery in the range
        newest = newest_of(objects)
    else:
        newest = {}
    return superseded(objects, newest)


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


@dg.asset(
    **DAILY,
    kinds={"duckdb"},  # the deployment's engine replaces it (definitions.with_engine_kinds)
    deps=[typed_focus_parquet],
    check_specs=TABLE_CHECKS,
    description="The table focus_alibaba_normalized and the delivery ledger; the day's deliveries are registered, "
    "then published (a ledger row each), which makes them visible to the views.",
)
@fails_clearly
def athena_table(
    context: dg.AssetExecutionContext,
    export_sources: ExportSources,
    raw_bucket: ObjectStore,
    lake: ObjectStore,
    warehouse: Warehouse,
    export_settings: ExportSettings,
) -> dg.MaterializeResult:
    lake_bucket = lake.get_bucket()
    to_publish = []
    for source in open_sources(export_sources, raw_bucket, export_settings):
        objects, _ = objects_of_days(source.raw, source.layout, context.partition_keys, etags=False)
        candidates = candidate_deliveries(objects)
        # Only the folders of the run's own deliveries are listed: the cost of a run stays flat as the
        # lake grows (a delivery superseded in a backfill has no files, and is left out).
        deliveries = [
            files
            for month, batch_ts in sorted(candidates)
            if (files := delivery_files(lake_bucket, source.name, month, batch_ts)).typed
        ]
        to_publish.append((source.name, deliveries, candidates))
    # The table, and these partitions in it (two sources' deliveries may share one).
    warehouse.register(sorted({(d.yearmonth, d.batch_ts) for _, deliveries, _ in to_publish for d in deliveries}))
    published, withheld = [], {}
    for source_name, deliveries, candidates in to_publish:
        report = publish(
            lake_bucket,
            source_name,
            deliveries,
            candidates,
            min_money_ratio=export_settings.snapshot_min_money_ratio,
            promote_suspicious=export_settings.promote_suspicious_snapshots,
            storage_options=lake.storage_options(),
        )
        published += report.published
        withheld.update(report.withheld)
    warehouse.create({LEDGER_TABLE})
    return dg.MaterializeResult(
        metadata={
            "deliveries published": published,
            "deliveries withheld": withheld,
            "warehouse": warehouse.describe(),
        },
        check_results=[table_schema_result(warehouse), snapshot_sanity_result(withheld)],
    )


def _amounts(rows: list[tuple]) -> dict[str, str]:
    """(group..., amount) rows as {"group...": exact decimal text}."""
    return {" ".join(map(str, keys)): decimal_text(Decimal(amount)) for *keys, amount in rows}


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
    per_currency = warehouse.query("SELECT BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY 1 ORDER BY 1")
    return dg.MaterializeResult(
        metadata={
            "views": created,
            "current BilledCost per month and currency": _amounts(current),
            **money_metadata("current BilledCost", _amounts(per_currency)),
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
            **money_metadata("BilledCost", _amounts(totals)),
            "columns": json.dumps([c.name for c in unified_columns()]),
        }
    )


ASSETS = [raw_oss_export, raw_s3_csv, typed_focus_parquet, athena_table, provider_views, unified_focus_view]
