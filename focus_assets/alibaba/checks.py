"""The asset checks of raw_oss_export, typed_focus_parquet and athena_table: their specs, and their results built from
what the plain modules report. On healthy input in steady state every check passes; documented
gaps are metadata, and a check warns when something changed or is wrong."""

import dagster as dg
import polars as pl

from ..focus.reconcile import Reconciliation
from ..focus.rules import HeaderReport, focus_rule_violations
from ..focus.schema import PARTITION_COLUMNS, output_columns
from ..focus.writer import OUTPUT_TABLE, files_not_matching_schema
from ..resources.warehouse import Warehouse
from .asset_options import day_check

EXPORT_CHECKS = [
    day_check(
        "every_source_delivered",
        asset="raw_oss_export",
        description="Each export source (Alibaba account) delivered on the day. WARN naming the days and "
        "sources that did not: a subscription that stopped, or a file still to come (its run passes the check).",
    ),
]

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
        description="The Parquet written matches the schema module exactly (else ERROR). WARN when the "
        "export's header changed since the delivery typed before (a column newly missing, back, added or "
        "dropped) or lacks a column Alibaba is not documented to omit; documented omissions are metadata.",
    ),
    day_check(
        "focus_rules",
        asset="typed_focus_parquet",
        description="Mandatory columns not null, allowed values, charge periods inside the billing "
        "period; Alibaba's documented gaps reported apart.",
    ),
]

TABLE_CHECKS = [
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
]

# typed_focus_parquet's metadata: the header's gaps, read back by the next delivery's schema_stability.
COLUMNS_MISSING = "columns missing upstream (typed nulls)"
COLUMNS_ADDED = "new columns upstream (in x_ExtraColumns)"


def previous_header(context: dg.AssetExecutionContext) -> tuple[list[str], list[str]] | None:
    """The (missing, added) columns of the delivery typed before this run, from the instance."""
    records = context.instance.fetch_materializations(context.asset_key, limit=50, ascending=False).records
    for record in records:
        metadata = record.asset_materialization.metadata if record.asset_materialization else {}
        if COLUMNS_MISSING in metadata and COLUMNS_ADDED in metadata:
            return list(metadata[COLUMNS_MISSING].value), list(metadata[COLUMNS_ADDED].value)
    return None


def every_source_delivered_result(days: list[str], delivered: dict[str, set[str]]) -> dg.AssetCheckResult:
    """`delivered`: per source, the days (of `days`) it delivered objects on."""
    missing = {day: [name for name, on in delivered.items() if day not in on] for day in days}
    missing = {day: names for day, names in missing.items() if names}
    return dg.AssetCheckResult(
        check_name="every_source_delivered",
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"sources": sorted(delivered), "no delivery (day: sources)": missing},
    )


def reconciliation_result(total: Reconciliation) -> dg.AssetCheckResult:
    summary = total.to_dict()
    return dg.AssetCheckResult(
        check_name="reconciliation",
        passed=summary["reconciled"],
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows": summary["rows"], "mismatches": summary["mismatches"]},
    )


def schema_stability_result(files: list, header: HeaderReport) -> dg.AssetCheckResult:
    drift = files_not_matching_schema(files)
    if drift:
        return dg.AssetCheckResult(
            check_name="schema_stability",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"files not matching the schema module": drift},
        )
    return dg.AssetCheckResult(
        check_name="schema_stability",
        passed=header.steady,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "changes since the delivery typed before": header.changes,
            "missing, not documented as omitted by Alibaba": header.undocumented_missing,
            COLUMNS_MISSING: header.missing,
            COLUMNS_ADDED: header.added,
        },
    )


def focus_rules_result(files: list) -> dg.AssetCheckResult:
    if not files:
        return dg.AssetCheckResult(check_name="focus_rules", passed=True, metadata={"rows": 0})
    report = focus_rule_violations(pl.scan_parquet(files))
    return dg.AssetCheckResult(
        check_name="focus_rules",
        passed=not report.violations,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"violations (rows)": report.violations, "Alibaba's documented gaps (rows)": report.documented_gaps},
    )


def table_schema_result(warehouse: Warehouse) -> dg.AssetCheckResult:
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


def snapshot_sanity_result(withheld: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name="snapshot_sanity",
        passed=not withheld,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"withheld": withheld},
    )
