"""The transform: export objects in, typed Parquet + quarantine + reconciliation out.

    convert_object(file, key, out_root, settings) -> ObjectReport
    convert_objects(bucket, objects, out_root, settings) -> ObjectsReport   (a day's run: many objects)

For each CSV member of an object: read it as pieces of whole records, type each piece with
`normalize_batch`, stream the typed rows to
`focus_alibaba_normalized/yearmonth=YYYYMM/batch_ts=STAMP/<object>.parquet` and the quarantined
rows to `focus_alibaba_quarantine/...`, publish both atomically, then reconcile what was read
with what the published file holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ..storage.base import Bucket
from .delivery import Delivery, resolve_delivery
from .export_layout import ExportObject
from .export_sources import source_file_name
from .normalize import BatchSource, TypedBatch, normalize_batch, typed_schema
from .reconcile import Reconciliation
from .schema import INPUT_COLUMNS, Kind, quarantine_arrow_schema
from .settings import TransformSettings
from .source import (
    CsvMember,
    CsvPiece,
    ExportFileError,
    Header,
    ordered_map,
    prefetch,
    read_csv_members,
    read_records,
    safe_file_stem,
)
from .values import billing_month
from .writer import OUTPUT_TABLE, QUARANTINE_TABLE, ParquetPartWriter, partition_dir, write_frames


@dataclass
class MemberReport:
    object_key: str
    member: str | None
    delivery: Delivery
    header: Header
    yearmonth: str | None = None
    output: Path | None = None
    quarantine_output: Path | None = None
    repairs: Counter = field(default_factory=Counter)
    quarantined_by_column: Counter = field(default_factory=Counter)
    unmapped_services: Counter = field(default_factory=Counter)  # services the service map lacks: rows
    rows_outside_billing_month: int = 0
    empty_records_skipped: int = 0
    all_null_columns: list[str] = field(default_factory=list)
    reconciliation: Reconciliation = field(default_factory=Reconciliation)
    file_name: str = ""  # of the member's output and quarantine files

    def unwritten_keys(self) -> list[str]:
        """The member's output and quarantine keys (relative to the output root) that this run did
        not write, because it had no such rows: a file an earlier run left there is stale."""
        if self.yearmonth is None:
            return []
        written = {OUTPUT_TABLE: self.output, QUARANTINE_TABLE: self.quarantine_output}
        return [
            (partition_dir(Path(), table, self.yearmonth, self.delivery.batch_ts) / self.file_name).as_posix()
            for table, path in written.items()
            if path is None
        ]

    def to_dict(self) -> dict:
        return {
            "object": self.object_key,
            "member": self.member,
            "yearmonth": self.yearmonth,
            "batch_ts": self.delivery.batch_ts,
            "batch_ts_from": self.delivery.batch_ts_source,
            "output": str(self.output) if self.output else None,
            "columns": {
                "missing": list(self.header.missing),
                "unknown": list(self.header.extra),
                "renamed": self.header.renamed,
                "null_on_every_row": self.all_null_columns,
            },
            "repairs": dict(sorted(self.repairs.items())),
            "services_not_in_the_map": dict(sorted(self.unmapped_services.items())),
            "quarantine": {
                "rows": self.reconciliation.rows_quarantined,
                "by_column": dict(sorted(self.quarantined_by_column.items())),
                "file": str(self.quarantine_output) if self.quarantine_output else None,
            },
            "rows_outside_billing_month": self.rows_outside_billing_month,
            "empty_records_skipped": self.empty_records_skipped,
            **self.reconciliation.to_dict(),
        }


@dataclass
class ObjectReport:
    object_key: str
    members: list[MemberReport]

    @property
    def reconciliation(self) -> Reconciliation:
        return _summed(self.members)


def _summed(members: list[MemberReport]) -> Reconciliation:
    total = Reconciliation()
    for member in members:
        total.merge(member.reconciliation)
    return total


@dataclass
class ObjectsReport:
    """What converting several export objects gave, summed over their CSV members."""

    members: list[MemberReport] = field(default_factory=list)

    @property
    def reconciliation(self) -> Reconciliation:
        return _summed(self.members)

    @property
    def billing_months(self) -> list[str]:
        return sorted({m.yearmonth for m in self.members if m.yearmonth})

    @property
    def typed_files(self) -> list[Path]:
        """The typed Parquet files written (not the quarantine's)."""
        return [m.output for m in self.members if m.output]

    @property
    def written_files(self) -> list[Path]:
        """Every file written: typed and quarantine."""
        return [p for m in self.members for p in (m.output, m.quarantine_output) if p]

    @property
    def unwritten_keys(self) -> list[str]:
        """Keys of files an earlier run of these objects left and this run did not write (stale)."""
        return [key for m in self.members for key in m.unwritten_keys()]

    @property
    def columns_missing(self) -> list[str]:
        """Schema columns absent from a header (typed as nulls)."""
        return sorted({name for m in self.members for name in m.header.missing})

    @property
    def columns_added(self) -> list[str]:
        """Delivered columns the schema does not know (kept in x_ExtraColumns)."""
        return sorted({name for m in self.members for name in m.header.extra})

    @property
    def unmapped_services(self) -> dict[str, int]:
        """Rows per service ("code / name") the service map lacks: what the map should learn."""
        return _counted(member.unmapped_services for member in self.members)

    @property
    def repairs(self) -> dict[str, int]:
        """Rows changed by each repair or derivation."""
        return _counted(member.repairs for member in self.members)


def _counted(counters: Iterable[Counter]) -> dict[str, int]:
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return dict(sorted(total.items()))


def convert_objects(
    bucket: Bucket, objects: Iterable[ExportObject], out_root: Path, settings: TransformSettings
) -> ObjectsReport:
    """Convert each object of `bucket` (fetched as a local copy, one at a time) into `out_root`."""
    report = ObjectsReport()
    for item in objects:
        with bucket.local_copy(item.stored.key) as path:
            converted = convert_object(
                path, item.stored.key, out_root, settings, last_modified=item.stored.last_modified
            )
        report.members += converted.members
    return report


def convert_object(
    path: Path,
    object_key: str,
    out_root: Path,
    settings: TransformSettings | None = None,
    *,
    batch_ts: str | None = None,
    last_modified: datetime | None = None,
) -> ObjectReport:
    """Transform one export object. Raises ExportFileError (one line, naming the object) when it
    cannot be read; then nothing of the object is published (an object is a unit of delivery:
    half a .zip would be half a bill)."""
    settings = settings or TransformSettings()
    delivery = resolve_delivery(object_key, settings.key_pattern, batch_ts=batch_ts, last_modified=last_modified)
    members = read_csv_members(
        Path(path),
        object_key,
        max_uncompressed_bytes=settings.max_uncompressed_bytes,
        piece_bytes=settings.piece_bytes,
        case_insensitive=settings.repairs.match_column_names_case_insensitively,
    )
    reports: list[MemberReport] = []
    try:
        for member in members:
            reports.append(_convert_member(member, delivery, Path(out_root), settings))
    except BaseException:
        for published in reports:  # the members before the failing one
            for path in (published.output, published.quarantine_output):
                if path is not None:
                    path.unlink(missing_ok=True)
        raise
    return ObjectReport(object_key, reports)


def _output_name(member: CsvMember, export_source: str) -> str:
    name = member.object_key.rsplit("/", 1)[-1]
    if member.member:
        name += "--" + member.member.rsplit("/", 1)[-1]
    return source_file_name(export_source, safe_file_stem(name) + ".parquet")


def _typed_batches(member: CsvMember, source: BatchSource, settings: TransformSettings) -> Iterator[TypedBatch]:
    """Parse and type the member piece by piece, `settings.typing_threads` pieces at once, in order."""
    names = list(member.header.names)
    decimal_columns, dictionary_columns = member.header.decimal_columns, member.header.dictionary_columns

    def typed(piece: CsvPiece) -> TypedBatch:
        records = read_records(
            piece,
            names,
            member.name,
            null_literals=settings.repairs.null_literal,
            decimal_columns=decimal_columns,
            dictionary_columns=dictionary_columns,
        )
        records_ending_in_break = records.text.height - (0 if piece.ends_with_line_break else 1)
        return normalize_batch(
            records.text,
            source,
            piece.first_line,
            settings,
            typed_decimals=records.decimals,
            dictionaries=records.dictionaries,
            line_breaks=records.line_breaks,
            embedded_line_breaks=piece.line_breaks != records_ending_in_break,
        )

    return ordered_map(typed, member.pieces, settings.typing_threads)


def _convert_member(member: CsvMember, delivery: Delivery, out_root: Path, settings: TransformSettings) -> MemberReport:
    report = MemberReport(
        member.object_key,
        member.member,
        delivery,
        member.header,
        yearmonth=delivery.yearmonth,
        file_name=_output_name(member, settings.export_source),
    )
    batches = _typed_batches(
        member, BatchSource(member.object_key, member.member, delivery.batch_ts, member.header), settings
    )
    first = next(batches, None)
    if first is None:  # a header and no rows: nothing to publish, and nothing left from a run before
        for key in report.unwritten_keys():
            (out_root / key).unlink(missing_ok=True)
        return report
    if report.yearmonth is None:  # the key names no month: the billing month of the rows
        start = first.good["BillingPeriodStart"].drop_nulls().head(1).to_list()
        if not start:
            raise ExportFileError(
                member.name, "no billing month: the key names none and the first rows have no BillingPeriodStart"
            )
        report.yearmonth = billing_month(start[0], settings.source_timezone)

    name = report.file_name
    output = partition_dir(out_root, OUTPUT_TABLE, report.yearmonth, delivery.batch_ts) / name
    quarantine = ParquetPartWriter(
        partition_dir(out_root, QUARANTINE_TABLE, report.yearmonth, delivery.batch_ts) / name,
        quarantine_arrow_schema(),
        settings.row_group_rows,
    )
    failure: list[BaseException] = []

    def typed_rows() -> Iterator[pl.DataFrame]:
        try:
            for batch in chain([first], batches):
                _account(report, batch, quarantine, settings)
                yield batch.good
        except BaseException as exc:  # the writer reports its own error; keep ours
            failure.append(exc)
            raise

    try:
        # Typing runs a batch ahead in its own thread, so it overlaps with Parquet encoding.
        rows = write_frames(prefetch(typed_rows()), output, typed_schema(settings), settings.row_group_rows)
    except BaseException:
        quarantine.abort()
        if failure:
            raise failure[0] from None
        raise
    report.quarantine_output = quarantine.publish()
    if rows:
        report.output = output
        report.reconciliation.add_written(output)
        report.all_null_columns = _all_null_columns(output)
    return report


def _account(
    report: MemberReport, batch: TypedBatch, quarantine: ParquetPartWriter, settings: TransformSettings
) -> None:
    """Count one typed batch into the report and set its quarantined rows aside."""
    quarantine.write(batch.quarantine)
    report.reconciliation.add_batch(batch.money, batch.money_exact_extra)
    report.repairs.update(batch.repairs)
    report.unmapped_services.update(batch.unmapped_services)
    report.empty_records_skipped += batch.empty_records
    report.quarantined_by_column.update(_count(batch.quarantine["column"]))
    starts = _count(batch.good["BillingPeriodStart"])  # few distinct values: months in Python
    report.rows_outside_billing_month += sum(
        rows for start, rows in starts.items() if billing_month(start, settings.source_timezone) != report.yearmonth
    )


def _count(values: pl.Series) -> Counter:
    counts = values.drop_nulls().value_counts()
    return Counter(dict(zip(counts[:, 0].to_list(), counts["count"].to_list(), strict=True)))


def _all_null_columns(parquet_file: Path) -> list[str]:
    """Input columns that are null on every row, from the file's statistics (no data read)."""
    metadata = pq.ParquetFile(parquet_file).metadata
    names = [metadata.schema.column(i).path.split(".")[0] for i in range(metadata.num_columns)]
    nulls: Counter = Counter()
    values: Counter = Counter()
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for i in range(group.num_columns):
            stats = group.column(i).statistics
            if stats is not None and stats.has_null_count:
                nulls[names[i]] += stats.null_count
                values[names[i]] += group.num_rows
    inputs = {c.name for c in INPUT_COLUMNS if c.kind is not Kind.STRING_MAP}  # maps count entries, not rows
    return [name for name in dict.fromkeys(names) if name in inputs and values[name] and nulls[name] == values[name]]
