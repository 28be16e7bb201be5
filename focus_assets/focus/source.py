"""Opening export objects: `.csv`, `.csv.gz` and `.zip` (one or several CSVs), read as a stream
and cut into pieces of whole CSV records.

Why pieces: memory must not grow with the size of an export. The CSV parser works on one piece
(at most about `piece_bytes` of records) at a time, so the peak is set by the piece size, not by
the file. A record boundary is a line break outside
quotes; in RFC 4180 quotes inside a field are doubled, so a line break ends a record exactly when
the number of quote characters before it is even. The format is detected from the first bytes,
not trusted from the file name.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
import zipfile
import zlib
from collections.abc import Iterator
from itertools import chain
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from zlib_ng import gzip_ng, zlib_ng  # the gzip module's interface, about twice as fast

from .schema import INPUT_COLUMNS, input_column

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BOM = b"\xef\xbb\xbf"
DEFAULT_PIECE_BYTES = 16 * 1024**2


class ExportFileError(Exception):
    """An export object that cannot be read. Its text is one line naming the object, and the line
    and column where they apply."""

    def __init__(self, source: str, problem: str, *, line: int | None = None, column: str | None = None):
        self.source, self.problem, self.line, self.column = source, problem, line, column
        where = source + (f", line {line}" if line is not None else "") + (f", column {column}" if column else "")
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Header:
    """The header of one CSV, matched to the schema."""

    names: tuple[str, ...]  # as delivered (BOM removed)
    rename: dict[str, str]  # delivered name -> schema name, for every known column
    renamed: dict[str, str] = field(default_factory=dict)  # the entries whose spelling differed
    missing: tuple[str, ...] = ()  # schema input columns absent from the header
    extra: tuple[str, ...] = ()  # delivered names the schema does not know


@dataclass(frozen=True)
class CsvPiece:
    data: bytes  # whole CSV records, without the header
    first_line: int  # line of the piece's first record in the member (the header is line 1)
    line_breaks: int  # line breaks in the piece's records (header excluded)
    ends_with_line_break: bool


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


def member_name(object_key: str, member: str | None) -> str:
    return f"{object_key}!{member}" if member else object_key


def detect_format(path: Path) -> str:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic in _ZIP_MAGIC:
        return "zip"
    return "csv"


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
    path = Path(path)
    if path.stat().st_size == 0:
        raise ExportFileError(object_key, "empty object (0 bytes)")
    fmt = detect_format(path)

    def member(name: str | None, stream: BinaryIO) -> CsvMember:
        label = member_name(object_key, name)
        records = _record_blocks(_limited(stream, max_uncompressed_bytes, label), piece_bytes)
        header_bytes, first_block = _split_header(records, label)
        header = parse_header(header_bytes, label, case_insensitive=case_insensitive)
        pieces = _pieces(header_bytes, first_block, records)
        return CsvMember(object_key, name, header, _prefetch(pieces))

    if fmt == "csv":
        with open(path, "rb") as stream:
            yield member(None, stream)
        return
    if fmt == "gzip":
        with gzip_ng.open(path, "rb") as stream:
            yield member(None, stream)
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ExportFileError(object_key, f"corrupt zip ({exc})") from None
    with archive:
        names = sorted(
            info.filename for info in archive.infolist()
            if not info.is_dir() and info.filename.lower().endswith(".csv") and not info.filename.startswith("__MACOSX/")
        )
        if not names:
            raise ExportFileError(object_key, "zip holds no .csv file")
        for name in names:
            try:
                stream = archive.open(name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ExportFileError(member_name(object_key, name), f"corrupt zip member ({exc})") from None
            with stream:
                yield member(name, stream)


class _limited:
    """A read-only stream that refuses to give more than `limit` bytes (zip and gzip bombs) and
    turns decompression errors into ExportFileError."""

    def __init__(self, stream: BinaryIO, limit: int, label: str):
        self.stream, self.limit, self.label, self.total = stream, limit, label, 0

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.stream.read(size)
        except (EOFError, OSError, zipfile.BadZipFile, zlib.error, zlib_ng.error) as exc:
            raise ExportFileError(self.label, f"corrupt or truncated compressed data ({exc})") from None
        self.total += len(data)
        if self.total > self.limit:
            raise ExportFileError(self.label, f"expands past the configured limit of {self.limit:,} bytes; not read")
        return data


_READ_BYTES = 1 << 20  # decompress and scan in cache-sized reads


def _record_blocks(stream: _limited, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of about `block_bytes` that each end at a record boundary (the last one may not
    end with a line break), with the number of line breaks in each. A record longer than a block
    makes the block grow until the record ends."""
    reads: list[bytes] = []
    size = quotes = breaks = 0
    while True:
        data = stream.read(min(_READ_BYTES, block_bytes))
        if data:
            reads.append(data)
            size += len(data)
            quotes += data.count(b'"')
            breaks += data.count(b"\n")
            if size < block_bytes:
                continue
        if not reads:
            return
        if not data:  # end of stream: the rest is the last block
            yield b"".join(reads), breaks
            return
        # Cut after the last line break outside quotes; it lies in the latest read unless that
        # read holds no boundary (a long quoted field), in which case keep reading.
        last = reads[-1]
        cut = _last_record_boundary(last, (quotes - last.count(b'"')) % 2)
        if cut == 0:
            continue
        tail = last[cut:]
        reads[-1] = last[:cut]
        yield b"".join(reads), breaks - tail.count(b"\n")
        reads = [tail] if tail else []
        size, quotes, breaks = len(tail), tail.count(b'"'), tail.count(b"\n")


def _last_record_boundary(buffer: bytes, parity_before: int) -> int:
    """Position just after the last line break of `buffer` that lies outside quotes (0 if none),
    given the parity of the quote characters before the buffer."""
    quotes_after = 0  # quote characters between the candidate line break and the end
    total = parity_before + buffer.count(b'"')
    end = len(buffer)
    while True:
        position = buffer.rfind(b"\n", 0, end)
        if position < 0:
            return 0
        quotes_after += buffer.count(b'"', position, end)
        if (total - quotes_after) % 2 == 0:
            return position + 1
        end = position


def _split_header(blocks: Iterator[tuple[bytes, int]], label: str) -> tuple[bytes, bytes]:
    """(header record, rest of the first block), BOM removed."""
    first, _ = next(blocks, (b"", 0))
    if first.startswith(_BOM):
        first = first[len(_BOM):]
    if not first.strip():
        raise ExportFileError(label, "no header row (the object holds no CSV text)", line=1)
    cut = _first_record_boundary(first)
    return (first, b"") if cut == 0 else (first[:cut], first[cut:])


def _first_record_boundary(buffer: bytes) -> int:
    position = -1
    while True:
        position = buffer.find(b"\n", position + 1)
        if position < 0:
            return 0
        if buffer.count(b'"', 0, position) % 2 == 0:
            return position + 1


def parse_header(header_bytes: bytes, label: str, *, case_insensitive: bool = True) -> Header:
    """Read the header record and match it to the schema's input columns."""
    try:
        text = header_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExportFileError(label, f"header is not UTF-8 ({exc.reason} at byte {exc.start})", line=1) from None
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
        hint = ""
        if len(names) == 1:
            hint = f"; the header is a single column ({names[0][:60]!r}): wrong delimiter, or not a CSV?"
        raise ExportFileError(label, f"header lacks required column(s) {', '.join(required)}{hint}", line=1)
    return Header(tuple(names), rename, renamed, missing, tuple(extra))


def _pieces(header: bytes, first: bytes, rest: Iterator[tuple[bytes, int]]) -> Iterator[CsvPiece]:
    line = 1 + header.count(b"\n") + (0 if header.endswith(b"\n") else 1)
    blocks = chain([(first, first.count(b"\n"))] if first else [], rest)
    for block, breaks in blocks:
        yield CsvPiece(block, line, breaks, block.endswith(b"\n"))
        line += breaks


def _prefetch(items: Iterator[CsvPiece], depth: int = 1) -> Iterator[CsvPiece]:
    """Produce the next piece in a background thread (decompression and splitting release the
    GIL) while the caller parses the current one."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    worker = threading.Thread(target=produce, name="focus-assets-pieces", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def safe_file_stem(text: str) -> str:
    """A file-name-safe, deterministic stem for an output file named after its source."""
    keep = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
    return keep.strip("._") or "part"
