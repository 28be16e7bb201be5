"""`make demo`: generate a sample Alibaba export, run the Dagster graph for every delivery day on
the embedded deployment, and show what came out.

Everything lives under FOCUS_HOME (default `.focus/` in the project): `oss/` plays the export
bucket, `raw/` the raw bucket, `lake/` the data lake, `warehouse.duckdb` the query engine,
`sources.json` the other providers' samples in `sources/`, and `dagster/` the Dagster instance
the runs are recorded in, which `make ui` opens. Safe to run again: the same input gives the same
files, and the instance's run history starts over.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import shutil
import sys
import zipfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from .alibaba.assets import ASSETS
from .deployment import ingestion_mode, local_dagster_home, local_home, local_resources, write_local_sources
from .focus.settings import TransformSettings
from .focus.source import ExportFileError
from .focus.transform import convert_object
from .reporting.assets import REPORT_ASSETS
from .samples.alibaba import sample_deliveries, write_delivery
from .samples.providers import write_sample_sources
from .storage.local import LocalFolder
from .storage.replication import copy_if_changed


def _money(value: Decimal | str) -> str:
    return f"{Decimal(value):,.4f}"


def _input_totals(oss: Path, deliveries) -> dict[tuple[str, str], Decimal]:
    """BilledCost per billing month and currency of each month's latest delivery, read straight
    from the CSV text (polars, then exact decimals): the figures the views must show."""
    latest = {}
    for delivery in deliveries:
        if delivery.batch_ts > latest.get(delivery.billing_month, ("",))[0]:
            latest[delivery.billing_month] = (delivery.batch_ts, delivery)
    totals: dict = defaultdict(Decimal)
    for month, (_, delivery) in latest.items():
        path = oss / delivery.key
        data = path.read_bytes()
        if data[:2] == b"PK":
            with zipfile.ZipFile(path) as archive:
                texts = [archive.read(name) for name in archive.namelist()]
        else:
            texts = [gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data]
        for text in texts:
            rows = pl.read_csv(text, infer_schema=False, columns=["BillingCurrency", "BilledCost"])
            for currency, billed in rows.iter_rows():
                totals[(month, currency)] += Decimal(billed)
    return totals


def _checks(result: dg.ExecuteInProcessResult) -> str:
    marks = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            check = event.asset_check_evaluation_data
            state = "ok" if check.passed else ("WARN" if check.severity == dg.AssetCheckSeverity.WARN else "FAILED")
            marks.append(f"{check.check_name} {state}")
    return ", ".join(marks)


def push_deliveries(oss: Path, raw: Path, prefix: str = "focus-export/") -> int:
    """The stand-in for Function Compute on the embedded default: every export object copied into
    the raw folder by `storage.replication.copy_if_changed`, as the function copies OSS to S3."""
    source, target = LocalFolder(oss), LocalFolder(raw)
    return sum(copy_if_changed(source, target, found.key, found) for found in source.list_objects(prefix))


def main(instance: dg.DagsterInstance | None = None) -> int:
    """`make demo`, step by step. `instance`: where the runs are recorded (docs/screenshots.py
    passes its own); else FOCUS_HOME's, the one `make ui` opens."""
    home = local_home()
    clear(home)
    deliveries = write_sample_export(home)
    mode = ingestion_mode()
    if mode == "push":
        push_into_raw(home)
    with recording_instance(home, instance) as recorded:
        runs_ok, report = run_the_days(deliveries, local_resources(home, mode), recorded)
    print_the_views(home)
    reconciled = reconcile(home, deliveries)
    print_every_provider(home)
    show_bad_input(home / "damaged", TransformSettings())
    print_the_report(report)
    print(
        f"\nBrowse these runs, the lineage and re-run partitions: make ui   |   convert files directly: "
        f".venv/bin/focus-assets convert {home / 'oss'} --out /tmp/focus-out"
    )
    return 0 if runs_ok and reconciled else 1


def clear(home: Path) -> None:
    """Remove what an earlier run left, so the same input gives the same files."""
    for folder in ("oss", "raw", "lake", "sources", "damaged", "reports"):
        shutil.rmtree(home / folder, ignore_errors=True)
    (home / "warehouse.duckdb").unlink(missing_ok=True)


def write_sample_export(home: Path) -> list:
    """The sample Alibaba deliveries in oss/, and the other providers' samples in sources/,
    configured in sources.json, which every process of the local deployment reads."""
    oss = home / "oss"
    print(f"Sample Alibaba FOCUS export (Bill Subscription deliveries) -> {oss}")
    deliveries = sample_deliveries()
    for delivery in deliveries:
        write_delivery(oss, delivery)
        print(f"  {delivery.key}")
    sources = write_sample_sources(home / "sources")  # AWS, Azure, OCI and datacenter sample data
    print(f"Other providers' sample sources (AWS, Azure, OCI, datacenter) -> {write_local_sources(home, sources)}")
    return deliveries


def push_into_raw(home: Path) -> None:
    copied = push_deliveries(home / "oss", home / "raw")
    print(
        f"\nPush mode: {copied} objects copied into {home / 'raw'} the way the Function Compute function "
        "(deploy/function_compute) does on each OSS trigger, with the same copy routine; Dagster reads only there."
    )


@contextlib.contextmanager
def recording_instance(home: Path, instance: dg.DagsterInstance | None):
    """The given instance, or FOCUS_HOME's (FOCUS_HOME/dagster) with its run history wiped: the
    history described the data `clear` just removed."""
    if instance is not None:
        yield instance
        return
    dagster_home = local_dagster_home(home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as own:
        own.wipe()
        print(f"Dagster instance (DAGSTER_HOME, opened by make ui) -> {dagster_home}")
        yield own


def run_the_days(deliveries, resources: dict, instance: dg.DagsterInstance) -> tuple[bool, dg.ExecuteInProcessResult]:
    """One run of the six assets per delivery day, as the sensor would start them, a line each;
    then one run of the cost report. Returns whether every run succeeded, and the report's run."""
    days = sorted({f"{d.batch_ts[:4]}-{d.batch_ts[4:6]}-{d.batch_ts[6:8]}" for d in deliveries})
    print(
        "\nThe Dagster graph (raw_oss_export -> raw_s3_csv -> typed_focus_parquet -> athena_table -> "
        "provider_views -> unified_focus_view), one run per delivery day as the sensor would start them:\n"
    )
    header = f"{'delivery day':<14}{'objects':>8}{'rows':>7}{'quarant.':>9}  {'BilledCost by currency':<36}checks"
    print(header)
    print("-" * (len(header) + 60))
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    all_ok = True
    for day in days:
        result = dg.materialize(
            ASSETS, partition_key=day, resources=resources, run_config=quiet, raise_on_error=False, instance=instance
        )
        all_ok &= result.success
        meta = {
            e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()
        }
        typed = meta.get("typed_focus_parquet", {})
        billed = ", ".join(f"{c} {_money(v)}" for c, v in sorted(typed["BilledCost per currency"].value.items()))
        print(
            f"{day:<14}{meta['raw_oss_export']['objects'].value:>8}{typed['dagster/row_count'].value:>7}"
            f"{typed['rows quarantined'].value:>9}  {billed:<36}{_checks(result)}"
        )
        repairs = typed["repairs (rows)"].value
    # The cost report renders the whole warehouse: once, after the last day (the job renders it in every run).
    report = dg.materialize(
        REPORT_ASSETS, resources=resources, run_config=quiet, raise_on_error=False, instance=instance
    )
    print(f"\nRepairs on the last day (rows): {repairs}")
    print(
        "(schema_stability passes with Alibaba's documented gaps as metadata: the header omits ChargeDescription, "
        "ConsumedQuantity and ConsumedUnit, typed as nulls, and carries x_ResourceGroup, kept in x_ExtraColumns; "
        "it warns when the header changes)"
    )
    return all_ok and report.success, report


def _views(home: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def print_the_views(home: Path) -> None:
    """The current snapshot per billing month next to the naive sum, the top services of January
    and the untagged share."""
    with _views(home) as con:
        print(f"\nSQL views from sql/ in {home / 'warehouse.duckdb'} (open it with any DuckDB client).")
        print("The current snapshot per billing month (view alibaba_focus): only the latest delivery counts,")
        print("since deliveries are month-to-date; history stays in alibaba_focus_history:")
        rows = con.execute("""
            SELECT yearmonth, batch_ts, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost),
                   max(ChargePeriodEnd)
            FROM alibaba_focus GROUP BY ALL ORDER BY ALL""").fetchall()
        naive = dict(
            ((m, c), b)
            for m, c, b in con.execute(
                "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus_history GROUP BY ALL"
            ).fetchall()
        )
        print(
            f"  {'month':<8}{'delivery':<17}{'currency':<9}{'line items':>11}{'BilledCost':>15}{'EffectiveCost':>15}"
            f"{'summing all deliveries':>24}  data through (UTC)"
        )
        for month, batch, currency, items, billed, effective, through in rows:
            print(
                f"  {month:<8}{batch:<17}{currency:<9}{items:>11}{_money(billed):>15}{_money(effective):>15}"
                f"{_money(naive[(month, currency)]):>24}  {through:%Y-%m-%d %H:%M}"
            )

        print("\nCost per billing month, service and currency from focus_unified (Alibaba Cloud, top 6 of January):")
        for month, service, currency, billed, effective in con.execute("""
                SELECT strftime(BillingPeriodStart + INTERVAL 8 HOUR, '%Y%m'), ServiceName, BillingCurrency,
                       sum(BilledCost), sum(EffectiveCost)
                FROM focus_unified WHERE x_SourceProvider = 'Alibaba Cloud'
                GROUP BY ALL HAVING strftime(BillingPeriodStart + INTERVAL 8 HOUR, '%Y%m') = '202601'
                ORDER BY sum(EffectiveCost) DESC LIMIT 6""").fetchall():
            print(
                f"  {month}  {service:<34}{currency:<5}BilledCost {_money(billed):>12}"
                f"  EffectiveCost {_money(effective):>12}"
            )
        shares = con.execute("""
            SELECT tag_key, untagged_share FROM alibaba_untagged_share
            WHERE billing_month = '202601' AND BillingCurrency = 'CNY' ORDER BY tag_key""").fetchall()
        print(
            "Untagged share of January's EffectiveCost (view alibaba_untagged_share): "
            + ", ".join(f"{tag} {share:.0%}" for tag, share in shares)
            + " (CNY)"
        )


def reconcile(home: Path, deliveries) -> bool:
    """focus_unified's Alibaba BilledCost per month and currency against the latest delivery's CSV
    text, summed with exact decimals: prints the verdict and returns it."""
    expected = _input_totals(home / "oss", deliveries)
    with _views(home) as con:
        shown = dict(
            ((m, c), b)
            for m, c, b in con.execute("""
            SELECT strftime(BillingPeriodStart + INTERVAL 8 HOUR, '%Y%m'), BillingCurrency, sum(BilledCost)
            FROM focus_unified WHERE x_SourceProvider = 'Alibaba Cloud' GROUP BY ALL""").fetchall()
        )
    reconciled = all(shown.get(key) == value for key, value in expected.items()) and len(shown) == len(expected)
    print(
        "Reconciled with the input: focus_unified's Alibaba BilledCost per month and currency "
        + ("equals" if reconciled else "DIFFERS FROM")
        + " the sum of the latest delivery's CSV text: "
        + "; ".join(f"{m} {c} {_money(v)}" for (m, c), v in sorted(expected.items()))
    )
    return reconciled


def print_every_provider(home: Path) -> None:
    print("\nEvery provider in one view (focus_unified; AWS, Azure and OCI rows from the public FOCUS sample):")
    with _views(home) as con:
        for provider, currency, items, billed, effective in con.execute("""
                SELECT x_SourceProvider, BillingCurrency, count(*), sum(BilledCost), sum(EffectiveCost)
                FROM focus_unified GROUP BY ALL ORDER BY ALL""").fetchall():
            print(
                f"  {provider:<15}{currency:<5}{items:>7} line items  BilledCost {_money(billed):>14}"
                f"  EffectiveCost {_money(effective):>14}"
            )


def print_the_report(report: dg.ExecuteInProcessResult) -> None:
    if report.success:
        [event] = report.get_asset_materialization_events()
        meta = event.materialization.metadata
        print(
            f"\nCost report (asset cost_report, {meta['charts'].value} charts, one HTML file that opens offline): "
            f"{meta['report'].value}"
        )
    else:
        print("\nCost report (asset cost_report): FAILED, see the error above")


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
    print(
        f"  {result['rows']['read']} rows read, {result['rows']['written']} written, "
        f"{result['rows']['quarantined']} quarantined; reconciled: {result['reconciled']}"
    )
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
