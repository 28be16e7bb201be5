"""Publishing deliveries: a delivery's typed files become visible to the views when its ledger row
(`alibaba_deliveries/<yearmonth>_<batch_ts>.parquet`, `...@<source>.parquet` for a named export
source) is written, after its files and partitions. Everything here is per export source: two
accounts may deliver the same billing month with the same stamp, into the same partition folder,
and their files are told apart by name (focus/export_sources.py).

A run reads only what it touches: the folders of its own deliveries, the folder of the snapshot
each one would replace, and the ledger rows of their billing months. So a run on day 1,000 of a
deployment makes the requests it made on day 1 (tests/test_incremental_cost.py counts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from ..storage.base import Bucket
from .export_layout import ExportObject, months_read_by_day
from .export_sources import shown, source_of_file
from .rules import snapshot_problems, snapshot_stats
from .writer import LEDGER_TABLE, OUTPUT_TABLE, QUARANTINE_TABLE, record_delivery


@dataclass(frozen=True)
class DeliveryFiles:
    """The lake's files of one source's delivery (in one table partition)."""

    source: str
    yearmonth: str
    batch_ts: str
    typed: list[str]  # locations of its focus_alibaba_normalized files
    quarantine: list[str]

    @property
    def name(self) -> str:
        """'yearmonth/batch_ts', after '<source>:' for a named source."""
        return shown(self.source, f"{self.yearmonth}/{self.batch_ts}")


@dataclass
class PublishReport:
    published: list[str] = field(default_factory=list)  # "yearmonth/batch_ts: N rows, M quarantined"
    withheld: dict[str, list[str]] = field(default_factory=dict)  # delivery -> why


def partition_prefix(table: str, yearmonth: str, batch_ts: str) -> str:
    return f"{table}/yearmonth={yearmonth}/batch_ts={batch_ts}/"


def _parquet_files(lake: Bucket, prefix: str, source: str) -> list[str]:
    """The Parquet files of `source` under `prefix`."""
    return [
        lake.location(o.key)
        for o in lake.list_objects(prefix, etags=False)
        if o.key.endswith(".parquet") and source_of_file(o.key) == source
    ]


def delivery_files(lake: Bucket, source: str, yearmonth: str, batch_ts: str) -> DeliveryFiles:
    """Two listings: the delivery's folder in the typed table and in the quarantine."""
    return DeliveryFiles(
        source,
        yearmonth,
        batch_ts,
        _parquet_files(lake, partition_prefix(OUTPUT_TABLE, yearmonth, batch_ts), source),
        _parquet_files(lake, partition_prefix(QUARANTINE_TABLE, yearmonth, batch_ts), source),
    )


def candidate_deliveries(objects: Iterable[ExportObject]) -> dict[tuple[str, str], int]:
    """(yearmonth, batch_ts) -> export objects, for the deliveries these objects make up. An object
    whose billing month comes from its rows may have been typed into the month of its day or of
    the month before (a run's folders): both are candidates, and only one will have files."""
    counts: dict[tuple[str, str], int] = {}
    for item in objects:
        months = [item.delivery.yearmonth] if item.delivery.yearmonth else months_read_by_day(item.day)
        for month in months:
            counts[(month, item.delivery.batch_ts)] = counts.get((month, item.delivery.batch_ts), 0) + 1
    return counts


def published_batches(
    lake: Bucket, source: str, months: Iterable[str], storage_options: dict | None = None
) -> dict[str, list[str]]:
    """Per billing month, the delivery stamps of `source` already published: the ledger rows of
    these months only (a listing of `alibaba_deliveries/<yearmonth>_` each). `storage_options`:
    polars's, for the lake."""
    published: dict[str, list[str]] = {month: [] for month in months}
    files = [file for month in published for file in _parquet_files(lake, f"{LEDGER_TABLE}/{month}_", source)]
    if files:
        ledger = pl.scan_parquet(files, storage_options=storage_options).select("yearmonth", "batch_ts").collect()
        for yearmonth, batch_ts in ledger.iter_rows():
            published.setdefault(yearmonth, []).append(batch_ts)
    return published


def _rows(files: list[str], storage_options: dict | None) -> int:
    if not files:
        return 0
    return pl.scan_parquet(files, storage_options=storage_options).select(pl.len()).collect().item()


def _stats(files: DeliveryFiles, storage_options: dict | None):
    return snapshot_stats(pl.scan_parquet(files.typed, storage_options=storage_options), files.batch_ts)


def lake_partitions(lake: Bucket, table: str = OUTPUT_TABLE) -> dict[tuple[str, str], list[str]]:
    """Every file of a table, by (yearmonth, batch_ts): a listing of the whole table, for the
    maintenance job that re-registers everything, never for a day's run."""
    files: dict[tuple[str, str], list[str]] = {}
    for stored in lake.list_objects(f"{table}/", etags=False):
        parts = dict(p.split("=", 1) for p in stored.key.split("/")[1:-1] if "=" in p)
        if stored.key.endswith(".parquet") and {"yearmonth", "batch_ts"} <= parts.keys():
            files.setdefault((parts["yearmonth"], parts["batch_ts"]), []).append(lake.location(stored.key))
    return files


def publish(
    lake: Bucket,
    source: str,
    deliveries: list[DeliveryFiles],
    objects: dict[tuple[str, str], int],
    *,
    min_money_ratio: float,
    promote_suspicious: bool,
    storage_options: dict | None = None,
) -> PublishReport:
    """Write the ledger row of each delivery, oldest first, unless it looks like a regression of the
    snapshot it would replace (less time or much less money: `rules.snapshot_problems`), in which
    case it is withheld unless `promote_suspicious`. `storage_options`: what polars needs to read the lake."""
    report = PublishReport()
    already = published_batches(lake, source, {d.yearmonth for d in deliveries}, storage_options)
    for delivery in sorted(deliveries, key=lambda d: (d.yearmonth, d.batch_ts)):
        earlier = [b for b in already[delivery.yearmonth] if b < delivery.batch_ts]
        replaced = delivery_files(lake, source, delivery.yearmonth, max(earlier)) if earlier else None
        current = _stats(replaced, storage_options) if replaced and replaced.typed else None
        problems = snapshot_problems(_stats(delivery, storage_options), current, min_money_ratio)
        if problems and not promote_suspicious:
            report.withheld[delivery.name] = problems
            continue
        written = _rows(delivery.typed, storage_options)
        quarantined = _rows(delivery.quarantine, storage_options)
        with lake.writable_root() as root:
            record_delivery(
                root,
                source,
                delivery.yearmonth,
                delivery.batch_ts,
                objects.get((delivery.yearmonth, delivery.batch_ts), 0),
                written,
                quarantined,
            )
        already[delivery.yearmonth].append(delivery.batch_ts)
        report.published.append(f"{delivery.name}: {written} rows, {quarantined} quarantined")
    return report
