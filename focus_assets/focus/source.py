"""Export objects as CSV members: their header matched to the schema, and their records in pieces.

The byte-level work (decompression, cutting into pieces of whole records) is in `splitting.py`;
it runs one piece ahead in a background thread while the current piece is parsed and typed.
A piece's records are parsed by `read_records`: a small C reader (`_records.c`) for the plain
CSV of an export, polars' reader for anything else.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl
import pyarrow as pa

from .schema import DECIMAL_PRECISION, DECIMAL_SCALE, INPUT_COLUMNS, MAPPED_NAME_COLUMNS, Kind, input_column
from .splitting import (  # noqa: F401 - part of this module's interface
    DEFAULT_PIECE_BYTES,
    CsvPiece,
    ExportFileError,
    MemberStart,
    detect_format,
    member_name,
    object_events,
)

T = TypeVar("T")
R = TypeVar("R")

try:  # the C reader, compiled when the package is installed (setup.py)
    from . import _records
except ImportError:  # installed without a C compiler: polars' reader reads every piece
    _records = None

NULL_LITERALS = ["NULL", "null", "Null"]


@dataclass(frozen=True)
class Header:
    """The header of one CSV, matched to the schema."""

    names: tuple[str, ...]  # as delivered (BOM removed)
    rename: dict[str, str]  # delivered name -> schema name, for every known column
    renamed: dict[str, str] = field(default_factory=dict)  # the entries whose spelling differed
    missing: tuple[str, ...] = ()  # schema input columns absent from the header
    extra: tuple[str, ...] = ()  # delivered names the schema does not know

    @property
    def decimal_columns(self) -> tuple[str, ...]:
        """The delivered names of the money (decimal) columns."""
        return tuple(name for name, known in self.rename.items() if input_column(known).kind is Kind.DECIMAL)

    @property
    def dictionary_columns(self) -> tuple[str, ...]:
        """The delivered names of the columns whose typing works on their few distinct values:
        timestamps, Tags and the provider names (normalize.py)."""
        return tuple(
            name
            for name, known in self.rename.items()
            if input_column(known).kind in (Kind.TIMESTAMP, Kind.STRING_MAP) or known in MAPPED_NAME_COLUMNS
        )


@dataclass
class CsvMember:
    """One CSV of an export object: its header, and an iterator over its pieces."""

    object_key: str  # the export object, as named in reports and in x_SourceObject
    member: str | None  # the CSV inside a .zip; None for .csv and .csv.gz
    header: Header
    pieces: Iterator[CsvPiece]

    @property
    def name(self) -> str:
        return member_name(self.object_key, self.member)


def read_csv_members(
    path: Path,
    object_key: str,
    *,
    max_uncompressed_bytes: int,
    piece_bytes: int = DEFAULT_PIECE_BYTES,
    case_insensitive: bool = True,
) -> Iterator[CsvMember]:
    """The CSV members of one export object, in name order. A member's pieces must be consumed
    before the next member is requested."""
    events = prefetch(
        object_events(Path(path), object_key, max_uncompressed_bytes=max_uncompressed_bytes, piece_bytes=piece_bytes)
    )
    start = next(events, None)
    while start is not None:
        following: list[MemberStart] = []

        def pieces(following: list[MemberStart] = following) -> Iterator[CsvPiece]:
            for event in events:
                if isinstance(event, MemberStart):
                    following.append(event)
                    return
                yield event

        name = member_name(object_key, start.member)
        member = CsvMember(
            object_key, start.member, parse_header(start.header, name, case_insensitive=case_insensitive), pieces()
        )
        yield member
        for _ in member.pieces:  # whatever the caller left unread
            pass
        start = following[0] if following else None


# What is saved in place of an export when a download goes wrong, by its first bytes (upper case).
_NOT_CSV = (
    (b"%PDF-", "a PDF document"),
    (b"<!DOCTYPE HTML", "an HTML page"),
    (b"<HTML", "an HTML page"),
    (b"<?XML", "an XML document"),
)


def _not_csv(header_bytes: bytes) -> str | None:
    """The problem to report when the object is a known kind of non-CSV, e.g.
    "not a CSV: looks like an HTML page ('<!DOCTYPE html>')"; else None."""
    start = header_bytes.lstrip()
    kind = next((kind for magic, kind in _NOT_CSV if start[: len(magic)].upper() == magic), None)
    if kind is None:
        return None
    first_line = start[:200].decode("utf-8", errors="replace").splitlines()[0][:60]
    return f"not a CSV: looks like {kind} ({first_line!r})"


def parse_header(header_bytes: bytes, label: str, *, case_insensitive: bool = True) -> Header:
    """Read the header record and match it to the schema's input columns."""
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = _not_csv(header_bytes) or f"header is not UTF-8 ({exc.reason} at byte {exc.start})"
        raise ExportFileError(label, problem, line=1) from None
    try:
        names = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise ExportFileError(label, f"unreadable header ({exc})", line=1) from None
    names = [n.strip() for n in names]
    if not names or names == [""]:
        raise ExportFileError(label, "no header row", line=1)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ExportFileError(label, "duplicated header column", line=1, column=name)
        seen.add(name)

    by_folded = {c.name.lower(): c.name for c in INPUT_COLUMNS}
    rename: dict[str, str] = {}
    renamed: dict[str, str] = {}
    extra: list[str] = []
    for name in names:
        known = input_column(name)
        target = known.name if known else (by_folded.get(name.lower()) if case_insensitive else None)
        if target is None or target in rename.values():
            extra.append(name)
            continue
        rename[name] = target
        if name != target:
            renamed[name] = target

    missing = tuple(c.name for c in INPUT_COLUMNS if c.name not in rename.values())
    required = [c.name for c in INPUT_COLUMNS if c.required_in_header and c.name in missing]
    if required:
        if not_csv := _not_csv(header_bytes):
            raise ExportFileError(label, f"{not_csv}; header lacks required column(s) {', '.join(required)}", line=1)
        hint = ""
        if len(names) == 1:
            hint = f"; the header is a single column ({names[0][:60]!r}): wrong delimiter, or not a CSV?"
        raise ExportFileError(label, f"header lacks required column(s) {', '.join(required)}{hint}", line=1)
    return Header(tuple(names), rename, renamed, missing, tuple(extra))


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Run `items` in a background thread, `depth` items ahead of the caller: the next piece is
    decompressed while the current one is parsed, the next batch typed while the current one is
    written. An exception in the thread is raised in the caller."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        """Put `item` in the queue unless the consumer has gone away."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over(item):
                    return
            hand_over(done)
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="focus-assets-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def ordered_map(function: Callable[[T], R], items: Iterator[T], workers: int) -> Iterator[R]:
    """function(item) for each item, in the items' order, computed by `workers` threads at once
    (one piece per thread: parsing is C and typing is polars, both without the GIL). With one
    worker it is a plain map in the caller's thread. An exception is raised where its item's
    result would have come; the items after it are not handed out."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="focus-assets-typing") as pool:
        pending: deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(function, item))
                if len(pending) == workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # on an error or an early close: the queued items are dropped, the running ones finish
            for future in pending:
                future.cancel()


@dataclass(frozen=True)
class Dictionary:
    """A column's distinct non-null values, and per row the index of its value among them (null
    where the row's value is null): values[keys[row]] == text[row]."""

    keys: pl.Series  # UInt32
    values: pl.Series  # String


@dataclass
class Records:
    """A piece's records: every column as text, under its delivered name; the money columns as
    the C reader also typed them, exactly (decimal(38,10); null where the text is null or is a
    value it leaves to the typing); and the dictionaries it built of the columns with few
    distinct values (see records_in_c)."""

    text: pl.DataFrame
    decimals: dict[str, pl.Series] = field(default_factory=dict)
    dictionaries: dict[str, Dictionary] = field(default_factory=dict)
    # Per row, the line breaks inside its fields (UInt32), where the reader counted them (the C
    # reader, in a piece with such fields).
    line_breaks: pl.Series | None = None


def read_records(
    piece: CsvPiece,
    names: list[str],
    label: str,
    *,
    null_literals: bool,
    decimal_columns: tuple[str, ...] = (),
    dictionary_columns: tuple[str, ...] = (),
) -> Records:
    """The piece's records as text columns called `names` (empty fields and, with `null_literals`,
    NULL, null and Null are nulls), or ExportFileError naming `label` and the line.

    The C reader parses a piece of plain CSV about twice as fast as polars' reader and gives the
    same frame. It declines any piece outside its plain grammar (odd quoting, a record with the
    wrong number of fields, a blank line, invalid UTF-8); polars' reader parses that one, and
    what it refuses or pads is reported here."""
    records = records_in_c(
        piece.data,
        names,
        piece.line_breaks + 1,
        null_literals=null_literals,
        decimal_columns=decimal_columns,
        dictionary_columns=dictionary_columns,
    )
    if records is not None:  # every record had exactly the header's fields
        return records
    try:
        frame = records_in_polars(piece.data, names, null_literals=null_literals)
    except pl.exceptions.PolarsError as exc:
        wrong = wrong_field_count(piece, len(names))
        if wrong is not None:
            raise ExportFileError(
                label, f"record has {wrong[1]} fields, the header has {len(names)}", line=wrong[0]
            ) from None
        last = piece.first_line + piece.line_breaks - (1 if piece.ends_with_line_break else 0)
        raise ExportFileError(
            label, f"unreadable CSV in lines {piece.first_line}-{last} ({_first_line(exc)})"
        ) from None
    short = short_record(piece, frame)
    if short is not None:
        raise ExportFileError(label, f"record has {short[1]} fields, the header has {len(names)}", line=short[0])
    return Records(frame)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def records_in_c(
    data: bytes | bytearray,
    names: list[str],
    max_rows: int,
    *,
    null_literals: bool,
    decimal_columns: tuple[str, ...] = (),
    dictionary_columns: tuple[str, ...] = (),
) -> Records | None:
    """The C reader's records, or None where it declines the text or is not built.

    Its text columns are Arrow string views whose long values point into `data` (buffer 0) or
    into the undoubled quoted fields (buffer 1): polars takes them without a copy. The
    `decimal_columns` come typed as well: every number whose exact value has at most 10 decimals
    (-12.5, 1.23E-8, 1.2300000000000), the other values null, left to normalize.py. Of
    `dictionary_columns`, those with at least one value and at most 65,536 distinct ones in the
    piece come with their Dictionary."""
    if _records is None:
        return None
    parsed = _records.records(
        data,
        len(names),
        max_rows,
        null_literals,
        tuple(names.index(c) for c in decimal_columns),
        DECIMAL_SCALE,
        DECIMAL_PRECISION - DECIMAL_SCALE,
        tuple(names.index(c) for c in dictionary_columns),
    )
    if parsed is None:
        return None
    rows, views, validities, null_counts, unescaped, decimals, dictionaries, line_breaks = parsed
    buffers = [pa.py_buffer(data), pa.py_buffer(unescaped)]

    def validity(column: int) -> pa.Buffer | None:
        return None if validities[column] is None else pa.py_buffer(validities[column])

    text = [
        pa.Array.from_buffers(
            pa.string_view(), rows, [validity(c), pa.py_buffer(views[c]), *buffers], null_count=null_counts[c]
        )
        for c in range(len(names))
    ]
    typed = {}
    for name, decimal in zip(decimal_columns, decimals, strict=True):
        if decimal is not None:
            values, typed_validity, nulls = decimal
            typed[name] = pl.from_arrow(
                pa.Array.from_buffers(
                    pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
                    rows,
                    [None if typed_validity is None else pa.py_buffer(typed_validity), pa.py_buffer(values)],
                    null_count=nulls,
                )
            )
    found = {}
    for name, dictionary in zip(dictionary_columns, dictionaries, strict=True):
        if dictionary is not None:
            column, (keys, values, count) = names.index(name), dictionary
            keys = pa.Array.from_buffers(
                pa.uint32(), rows, [validity(column), pa.py_buffer(keys)], null_count=null_counts[column]
            )
            values = pa.Array.from_buffers(pa.string_view(), count, [None, pa.py_buffer(values), *buffers])
            found[name] = Dictionary(pl.from_arrow(keys), pl.from_arrow(values))
    if line_breaks is not None:
        line_breaks = pl.from_arrow(pa.Array.from_buffers(pa.uint32(), rows, [None, pa.py_buffer(line_breaks)]))
    return Records(pl.from_arrow(pa.Table.from_arrays(text, names=names)), typed, found, line_breaks)


def records_in_polars(data: bytes | bytearray, names: list[str], *, null_literals: bool) -> pl.DataFrame:
    return pl.read_csv(
        bytes(data),  # polars reads bytes, not a piece's bytearray: a copy, on this slower path only
        has_header=False,
        new_columns=names,
        infer_schema=False,  # every column as text; typing is ours
        null_values=NULL_LITERALS if null_literals else None,
        encoding="utf8",
        raise_if_empty=False,
    )


def short_record(piece: CsvPiece, parsed: pl.DataFrame) -> tuple[int, int] | None:
    """The (line, number of fields) of the first record of `piece` with fewer fields than the
    header, or None. The CSV parser fills a short record's missing fields with nulls, which would
    silently lose values, so this is checked: cheaply when the last column has no null (a short
    record always leaves it null) or when the delimiters outside quotes add up to one record per
    row; else record by record."""
    if parsed.height == 0 or parsed[parsed.columns[-1]].null_count() == 0:
        return None
    # Commas inside values came from quoted fields; the rest separate fields.
    inside = parsed.select(
        pl.sum_horizontal(pl.col(c).str.count_matches(",", literal=True).sum() for c in parsed.columns)
    ).item()
    if piece.data.count(b",") - inside == parsed.height * (parsed.width - 1):
        return None
    return wrong_field_count(piece, parsed.width)


def wrong_field_count(piece: CsvPiece, columns: int) -> tuple[int, int] | None:
    """The (line, number of fields) of the first record of `piece` whose number of fields is not
    `columns` (blank lines aside), read record by record; None if there is none."""
    line = piece.first_line
    reader = csv.reader(io.StringIO(piece.data.decode("utf-8", errors="replace"), newline=""))
    try:
        for fields in reader:
            if fields and fields != [""] and len(fields) != columns:
                return line, len(fields)
            line = piece.first_line + reader.line_num
    except csv.Error:
        return None
    return None


def safe_file_stem(text: str) -> str:
    """A file-name-safe, deterministic stem for an output file named after its source."""
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
    return keep.strip("._") or "part"
