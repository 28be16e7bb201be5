"""Writing Parquet: ZSTD level 1 (`COMPRESSION_LEVEL`), fixed row groups, published atomically.

Row groups hold exactly `row_group_rows` rows (the last one fewer) whatever the sizes of the
incoming batches, so the same input always gives the same bytes. A file is written under a
hidden staging name beside its final place and renamed when complete: a reader never sees half
a file, and a re-run replaces the file whole.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from polars.io.plugins import register_io_source

from ..storage.staging import staging_path
from .export_sources import ledger_file_name
from .schema import LEDGER_COLUMNS, PARTITION_COLUMNS, arrow_schema

OUTPUT_TABLE = "focus_alibaba_normalized"
QUARANTINE_TABLE = "focus_alibaba_quarantine"
LEDGER_TABLE = "alibaba_deliveries"
# ZSTD: about half the bytes of Snappy on billing data, and Athena bills the bytes a query scans.
# Athena engine 3, DuckDB, Spark and Trino read it. Level 1 rather than ZSTD's default 3: a few
# percent more bytes for less CPU (figures: docs/performance.md). Readers need nothing.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 1


def partition_dir(root: Path, table: str, yearmonth: str, batch_ts: str) -> Path:
    (month_key, _), (batch_key, _) = PARTITION_COLUMNS
    return Path(root) / table / f"{month_key}={yearmonth}" / f"{batch_key}={batch_ts}"


def files_not_matching_schema(files: list[Path]) -> list[str]:
    """The typed Parquet files whose schema is not exactly the schema module's (none, unless a bug)."""
    expected = arrow_schema()
    return [str(f) for f in files if not pq.read_schema(f).remove_metadata().equals(expected)]


def write_frames(frames: Iterator[pl.DataFrame], path: Path, schema: pl.Schema, row_group_rows: int) -> int:
    """Stream `frames` into one Parquet file with polars' native writer (encoding runs beside
    the producer). Enum columns are written as dictionary-encoded text and read back as text
    (`_arrow_schema_as_text`). Returns the rows written; with none, no file is left (an earlier
    one is removed)."""
    path = Path(path)
    staging = staging_path(path)
    staging.parent.mkdir(parents=True, exist_ok=True)
    rows = 0

    def counted() -> Iterator[pl.DataFrame]:
        nonlocal rows
        for frame in frames:
            rows += frame.height
            yield frame

    def source(with_columns: list[str] | None, *_: object) -> Iterator[pl.DataFrame]:
        for frame in counted():
            yield frame.select(with_columns) if with_columns else frame

    try:
        register_io_source(source, schema=schema).sink_parquet(
            staging,
            compression=COMPRESSION,
            compression_level=COMPRESSION_LEVEL,
            row_group_size=row_group_rows,
            maintain_order=True,
            metadata=_arrow_schema_as_text(schema),
        )
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    if rows == 0:
        staging.unlink(missing_ok=True)
        path.unlink(missing_ok=True)
        return 0
    os.replace(staging, path)
    return rows


def _as_text(dtype: pl.DataType) -> pl.DataType:
    if isinstance(dtype, (pl.Enum, pl.Categorical)):
        return pl.String()
    if isinstance(dtype, pl.List):
        return pl.List(_as_text(dtype.inner))
    return dtype


def _arrow_schema_as_text(schema: pl.Schema) -> dict[str, str] | None:
    """Key-value metadata that makes readers see an Enum column (or a list of Enums) as text.

    Polars stores its own schema in a Parquet file as Arrow's ("ARROW:schema"), where an Enum is
    a dictionary type. Physically an Enum is already a dictionary-encoded string column, so this
    replaces that entry with the Arrow schema polars writes for the same columns as text: pyarrow
    and polars then read strings, as Athena and DuckDB (which ignore the entry) do."""
    text = pl.Schema({name: _as_text(dtype) for name, dtype in schema.items()})
    if text == schema:
        return None
    empty = io.BytesIO()
    pl.DataFrame(schema=text).write_parquet(empty)
    return {"ARROW:schema": pq.read_metadata(empty).metadata[b"ARROW:schema"].decode()}


def record_delivery(
    root: Path, source: str, yearmonth: str, batch_ts: str, objects: int, rows_written: int, rows_quarantined: int
) -> Path:
    """Publish a delivery of an export source: its ledger row, written (atomically) after all its files."""
    path = Path(root) / LEDGER_TABLE / ledger_file_name(source, yearmonth, batch_ts)
    staging = staging_path(path)
    staging.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "source": source,
        "yearmonth": yearmonth,
        "batch_ts": batch_ts,
        "objects": objects,
        "rows_written": rows_written,
        "rows_quarantined": rows_quarantined,
    }
    pl.DataFrame([row], schema={c.name: c.kind.polars for c in LEDGER_COLUMNS}).write_parquet(
        staging, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL
    )
    os.replace(staging, path)
    return path


class ParquetPartWriter:
    """Streams polars frames into one Parquet file through pyarrow; nothing is visible until
    `publish()`. Used for the quarantine, whose rows arrive beside the main output."""

    def __init__(self, path: Path, schema: pa.Schema, row_group_rows: int):
        self.path = Path(path)
        self.schema = schema
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._staging = staging_path(self.path)
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self._pending.append(frame)
        self._pending_rows += frame.height
        self.rows += frame.height
        while self._pending_rows >= self.row_group_rows:
            self._flush(self.row_group_rows)

    def _flush(self, rows: int) -> None:
        buffered = pl.concat(self._pending, rechunk=False)
        chunk, rest = buffered.slice(0, rows), buffered.slice(rows)
        self._pending = [rest] if rest.height else []
        self._pending_rows = rest.height
        if self._writer is None:
            self._staging.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(
                self._staging, self.schema, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL
            )
        self._writer.write_table(chunk.to_arrow().cast(self.schema), row_group_size=rows)

    def publish(self) -> Path | None:
        """Close and move the file into place; with no rows, remove any earlier file instead."""
        if self._pending_rows:
            self._flush(self._pending_rows)
        if self._writer is None:
            self.path.unlink(missing_ok=True)
            return None
        self._writer.close()
        self._writer = None
        os.replace(self._staging, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._staging.unlink(missing_ok=True)
