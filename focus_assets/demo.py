"""`make demo`: generate a sample Alibaba export, transform every delivery, and show what came out.

Everything lives under FOCUS_HOME (default `.focus/` in the project): `oss/` plays the export
bucket, `lake/` the data lake. Safe to run again: the same input gives the same files.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from .focus.reconcile import Reconciliation
from .focus.schema import RECONCILED_COLUMNS
from .focus.settings import TransformSettings
from .focus.source import ExportFileError
from .focus.transform import convert_object
from .focus.writer import OUTPUT_TABLE, record_delivery
from .samples.alibaba import sample_deliveries, write_delivery
from .samples.providers import write_sample_sources
from .sql_layer import apply_to_duckdb


def _money(value: Decimal | str) -> str:
    return f"{Decimal(value):,.4f}"


def main() -> int:
    home = Path(os.environ.get("FOCUS_HOME", ".focus")).resolve()
    oss, lake = home / "oss", home / "lake"
    for folder in (oss, lake):
        shutil.rmtree(folder, ignore_errors=True)
    (home / "warehouse.duckdb").unlink(missing_ok=True)
    shutil.rmtree(home / "sources", ignore_errors=True)
    settings = TransformSettings()

    print(f"Sample Alibaba FOCUS export -> {oss}")
    deliveries = sample_deliveries()
    for delivery in deliveries:
        write_delivery(oss, delivery)

    print(f"\nTransforming each delivery -> {lake / OUTPUT_TABLE}\n")
    header = f"{'billing month':<14}{'delivery':<17}{'file':<10}{'rows':>6}{'quarant.':>9}  {'BilledCost by currency':<38}reconciled"
    print(header)
    print("-" * len(header))
    total = Reconciliation()
    for delivery in deliveries:
        path = oss / delivery.key
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
        report = convert_object(path, delivery.key, lake, settings, last_modified=modified)
        result = report.reconciliation
        total.merge(result)
        # publish the delivery last: its ledger row makes it visible to the views
        record_delivery(lake, delivery.billing_month, delivery.batch_ts, len(report.members),
                        result.rows_written, result.rows_quarantined)
        billed = ", ".join(f"{c} {_money(m['BilledCost'])}" for c, m in sorted(result.written.items()))
        kind = "".join(Path(delivery.key).suffixes)[1:] + (f" x{len(report.members)}" if len(report.members) > 1 else "")
        print(f"{delivery.billing_month:<14}{delivery.batch_ts:<17}{kind:<10}{result.rows_written:>6}"
              f"{result.rows_quarantined:>9}  {billed:<38}{'yes' if not result.mismatches() else 'NO'}")

    first = report.members[0].to_dict()
    print("\nWhat the transform did to every file (first file shown):")
    print(f"  columns missing from the header (typed nulls): {', '.join(first['columns']['missing'])}")
    print(f"  unknown columns kept in x_ExtraColumns:        {', '.join(first['columns']['unknown'])}")
    print(f"  renamed:                                       {first['columns']['renamed']}")
    print(f"  null on every row (Alibaba's known gaps):      {', '.join(first['columns']['null_on_every_row'])}")
    print(f"  repairs (rows):                                {first['repairs']}")

    warehouse = home / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    sources = write_sample_sources(home / "sources")  # AWS, Azure, OCI and datacenter samples
    apply_to_duckdb(con, lake, sources)
    print(f"\nSQL views from sql/ created in {warehouse} (open it with any DuckDB client).")
    print("The current snapshot per billing month (view alibaba_focus): only the latest delivery counts,")
    print("since deliveries are month-to-date; history stays in alibaba_focus_history:")
    rows = con.execute("""
        SELECT yearmonth, batch_ts, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost), max(ChargePeriodEnd)
        FROM alibaba_focus GROUP BY ALL ORDER BY ALL""").fetchall()
    naive = dict(((m, c), b) for m, c, b in con.execute(
        "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus_history GROUP BY ALL").fetchall())
    print(f"  {'month':<8}{'delivery':<17}{'currency':<9}{'line items':>11}{'BilledCost':>15}{'EffectiveCost':>15}"
          f"{'summing all deliveries':>24}  data through (UTC)")
    for month, batch, currency, items, billed, effective, through in rows:
        print(f"  {month:<8}{batch:<17}{currency:<9}{items:>11}{_money(billed):>15}{_money(effective):>15}"
              f"{_money(naive[(month, currency)]):>24}  {through:%Y-%m-%d %H:%M}")
    print("\nTop services of January (view alibaba_cost_monthly_by_service):")
    for service, currency, effective in con.execute("""
            SELECT ServiceName, BillingCurrency, effective_cost FROM alibaba_cost_monthly_by_service
            WHERE billing_month = '202601' ORDER BY effective_cost DESC LIMIT 4""").fetchall():
        print(f"  {service:<34}{currency:<5}{_money(effective):>14}")
    print("Untagged share of January's EffectiveCost (view alibaba_untagged_share): " + ", ".join(
        f"{tag} {share:.0%}" for tag, share in con.execute("""
            SELECT tag_key, untagged_share FROM alibaba_untagged_share
            WHERE billing_month = '202601' AND BillingCurrency = 'CNY' ORDER BY tag_key""").fetchall()) + " (CNY)")
    print("\nEvery provider in one view (focus_unified; AWS, Azure and OCI rows from the public FOCUS sample):")
    for provider, currency, items, billed, effective in con.execute("""
            SELECT x_SourceProvider, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost)
            FROM focus_unified GROUP BY ALL ORDER BY ALL""").fetchall():
        print(f"  {provider:<15}{currency:<5}{items:>7} line items  BilledCost {_money(billed):>14}"
              f"  EffectiveCost {_money(effective):>14}")
    con.close()

    summary = total.to_dict()
    print(f"\nReconciliation over all deliveries: {summary['rows']['read']} rows read, "
          f"{summary['rows']['written']} written, {summary['rows']['quarantined']} quarantined; "
          + "; ".join(f"{c} " + ", ".join(f"{k} {_money(v['read'])}" for k, v in m.items() if k in RECONCILED_COLUMNS)
                      for c, m in summary["money"].items())
          + (" -- every figure matches, to the last decimal." if summary["reconciled"] else " -- MISMATCH"))
    show_bad_input(home / "damaged", settings)
    print(f"\nTry it yourself:  .venv/bin/focus-assets convert {oss} --out /tmp/focus-out")
    return 0 if summary["reconciled"] else 1


def show_bad_input(folder: Path, settings: TransformSettings) -> None:
    """What happens to damaged input: a copy of one delivery with three bad values, and a
    truncated file. Written apart from the lake above."""
    shutil.rmtree(folder, ignore_errors=True)
    delivery = sample_deliveries()[1]
    path = write_delivery(folder / "oss", delivery)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")

    def damage(line_number: int, column: str, value: str) -> None:
        fields = next(csv.reader([lines[line_number - 1]]))
        fields[header.index(column)] = value
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(fields)
        lines[line_number - 1] = buffer.getvalue()

    damage(7, "BilledCost", "1,234.50")
    damage(12, "ChargePeriodStart", "31/12/2025 24:00")
    damage(20, "Tags", '{"Brand": "acme", "Project":')
    path.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    report = convert_object(path, delivery.key, folder / "lake", settings).members[0]
    result = report.reconciliation.to_dict()
    print(f"\nDamaged input (a copy of one delivery with three bad values, in {folder}):")
    print(f"  {result['rows']['read']} rows read, {result['rows']['written']} written, "
          f"{result['rows']['quarantined']} quarantined; reconciled: {result['reconciled']}")
    quarantined = pl.read_parquet(report.quarantine_output)
    for line, reason in quarantined.select("x_SourceLine", "reason").iter_rows():
        print(f"  quarantined  line {line}: {reason}")
    kept = pl.read_parquet(report.output).filter(pl.col("x_TagsError").is_not_null())
    for line, error in kept.select("x_SourceLine", "x_TagsError").iter_rows():
        print(f"  kept         line {line}: Tags unparseable ({error}); row kept with Tags null, text in x_TagsRaw")
    truncated = folder / "oss" / "truncated.csv.gz"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    try:
        convert_object(truncated, "focus-export/202601/20260102T050000/truncated.csv.gz", folder / "lake", settings)
    except ExportFileError as exc:
        print(f"  a truncated file fails, naming it: {exc}")


if __name__ == "__main__":
    sys.exit(main())
