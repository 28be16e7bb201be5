"""Reading an export object's bytes: decompression and cutting into pieces of whole CSV records.

Why pieces: memory must not grow with the size of an export. The CSV parser works on one piece
(about `piece_bytes` of records) at a time, so the peak is set by the piece size, not by the
file. A record boundary is a line break outside quotes; in RFC 4180 quotes inside a field are
doubled, so a line break ends a record exactly when the number of quote characters before it is
even. The format is detected from the first bytes, not trusted from the file name.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np
from zlib_ng import gzip_ng, zlib_ng  # the gzip module's interface, about twice as fast

try:  # the C reader's module also counts bytes (setup.py)
    from ._records import counts as _counts
except ImportError:
    _counts = None

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
class CsvPiece:
    data: bytearray  # whole CSV records, without the header; never changed while referred to
    first_line: int  # line of the piece's first record in the member (the header is line 1)
    line_breaks: int  # line breaks in the piece's records (header excluded)
    ends_with_line_break: bool


@dataclass(frozen=True)
class MemberStart:
    """A CSV member begins: its name inside a .zip (None for .csv and .csv.gz) and header bytes."""

    member: str | None
    header: bytes


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


def object_events(
    path: Path, object_key: str, *, max_uncompressed_bytes: int, piece_bytes: int = DEFAULT_PIECE_BYTES
) -> Iterator[MemberStart | CsvPiece]:
    """For each CSV member of the object, in name order: a MemberStart, then its pieces."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise ExportFileError(object_key, "empty object (0 bytes)")
    fmt = detect_format(path)

    def member(name: str | None, stream: BinaryIO) -> Iterator[MemberStart | CsvPiece]:
        label = member_name(object_key, name)
        records = _record_blocks(_LimitedStream(stream, max_uncompressed_bytes, label), piece_bytes)
        header, first_block, unclosed = _split_header(records, label)
        yield MemberStart(name, header)
        yield from _pieces(header, (first_block, first_block.count(b"\n"), unclosed), records, label)

    if fmt == "csv":
        with open(path, "rb") as stream:
            yield from member(None, stream)
        return
    if fmt == "gzip":
        with gzip_ng.open(path, "rb") as stream:
            yield from member(None, stream)
        return
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ExportFileError(object_key, f"corrupt zip ({exc})") from None
    with archive:
        names = sorted(
            info.filename
            for info in archive.infolist()
            if not info.is_dir()
            and info.filename.lower().endswith(".csv")
            and not info.filename.startswith("__MACOSX/")
        )
        if not names:
            raise ExportFileError(object_key, "zip holds no .csv file")
        for name in names:
            try:
                stream = archive.open(name)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise ExportFileError(member_name(object_key, name), f"corrupt zip member ({exc})") from None
            with stream:
                yield from member(name, stream)


class _LimitedStream:
    """A read-only stream that refuses to give more than `limit` bytes (zip and gzip bombs) and
    turns decompression errors into ExportFileError."""

    def __init__(self, stream: BinaryIO, limit: int, label: str):
        self.label, self.limit, self.total = label, limit, 0
        # GzipFile.readinto reads into a new bytes object and copies it; the buffered reader
        # inside it decompresses straight into the caller's buffer.
        buffered = getattr(stream, "_buffer", None) if isinstance(stream, gzip_ng.GzipNGFile) else None
        self.stream = buffered if isinstance(buffered, io.BufferedReader) else stream

    def readinto(self, buffer: memoryview) -> int:
        try:
            size = self.stream.readinto(buffer)
        except (EOFError, OSError, zipfile.BadZipFile, zlib.error, zlib_ng.error) as exc:
            raise ExportFileError(self.label, f"corrupt or truncated compressed data ({exc})") from None
        self.total += size
        if self.total > self.limit:
            raise ExportFileError(self.label, f"expands past the configured limit of {self.limit:,} bytes; not read")
        return size


_READ_BYTES = 1 << 20  # decompress and scan in cache-sized reads


def _record_blocks(stream: _LimitedStream, block_bytes: int) -> Iterator[tuple[bytearray, int, bool]]:
    """Blocks of about `block_bytes` that each end at a record boundary (the last one may not
    end with a line break), with the number of line breaks in each and whether the block ends
    inside quotes (only the last one can: a quote opened and never closed). A record longer than
    a block makes the block grow until the record ends.

    Each block is decompressed straight into a new buffer of its own, which is never changed once
    handed out (the parsed text columns point into it): no copy of the text, no joining of reads.
    Only the start of a record cut off at the end of a block is copied into the next one."""
    step = min(_READ_BYTES, block_bytes)
    carried = b""
    while True:
        block = bytearray(max(block_bytes, len(carried) + step))
        block[: len(carried)] = carried
        size = len(carried)
        quotes, breaks = _quotes_and_breaks(carried)
        latest = size  # where the latest read began
        while True:
            if size == len(block):
                # Cut after the last line break outside quotes; it lies in the latest read unless
                # that read holds no boundary (a long quoted field): then the block grows.
                cut = _last_record_boundary(block, latest, size, quotes)
                if cut:
                    break
                block.extend(bytes(step))
            with memoryview(block) as whole, whole[size : size + step] as target:
                got = stream.readinto(target)
                read_quotes, read_breaks = _quotes_and_breaks(target[:got])
            if not got:  # end of stream: the rest is the last block
                del block[size:]
                if size:
                    yield block, breaks, quotes % 2 == 1
                return
            quotes += read_quotes
            breaks += read_breaks
            latest, size = size, size + got
        carried = bytes(block[cut:])
        del block[cut:]
        yield block, breaks - carried.count(b"\n"), False


def _quotes_and_breaks(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(quote characters, line breaks) in `data`: in C, both in one pass, or with numpy; either
    way several times faster than bytes.count, and without the GIL, so the parser threads keep
    running while the next piece is cut."""
    if _counts is not None:
        return _counts(data)
    array = np.frombuffer(data, np.uint8)
    return int(np.count_nonzero(array == ord('"'))), int(np.count_nonzero(array == ord("\n")))


def _last_record_boundary(buffer: bytearray, start: int, end: int, quotes: int) -> int:
    """Position just after the last line break of `buffer[start:end]` that lies outside quotes
    (0 if none), given the number of quote characters in `buffer[:end]`: a line break lies
    outside quotes when the quotes before it are even."""
    quotes_after = 0  # quote characters between the candidate line break and the end
    while True:
        position = buffer.rfind(b"\n", start, end)
        if position < 0:
            return 0
        quotes_after += buffer.count(b'"', position, end)
        if (quotes - quotes_after) % 2 == 0:
            return position + 1
        end = position


def _split_header(blocks: Iterator[tuple[bytearray, int, bool]], label: str) -> tuple[bytes, bytearray, bool]:
    """(header record, rest of the first block, whether that rest ends inside quotes), BOM removed."""
    first, _, unclosed = next(blocks, (bytearray(), 0, False))
    if first.startswith(_BOM):
        del first[: len(_BOM)]  # at the front of a bytearray: no copy
    if not first.strip():
        raise ExportFileError(label, "no header row (the object holds no CSV text)", line=1)
    cut = _first_record_boundary(first)
    if cut == 0:
        return bytes(first), bytearray(), False
    header = bytes(first[:cut])
    del first[:cut]
    return header, first, unclosed


def _first_record_boundary(buffer: bytes) -> int:
    position = -1
    while True:
        position = buffer.find(b"\n", position + 1)
        if position < 0:
            return 0
        if buffer.count(b'"', 0, position) % 2 == 0:
            return position + 1


def _pieces(
    header: bytes, first: tuple[bytearray, int, bool], rest: Iterator[tuple[bytearray, int, bool]], label: str
) -> Iterator[CsvPiece]:
    """The member's records as pieces, each with the line its first record starts on."""
    line = 1 + header.count(b"\n") + (0 if header.endswith(b"\n") else 1)
    blocks = chain([first] if first[0] else [], rest)
    for block, breaks, unclosed in blocks:
        if unclosed:  # the parser would take the rest of the object as one field, or refuse it
            raise ExportFileError(
                label,
                "unterminated quoted field: the quote opened on this line never closes",
                line=line + block.count(b"\n", 0, _unclosed_quote(block)),
            )
        yield CsvPiece(block, line, breaks, block.endswith(b"\n"))
        line += breaks


def _unclosed_quote(block: bytearray) -> int:
    """The position of the quote that opens the field left open at the end of `block` (which
    starts outside quotes and ends inside them). In a quoted field a doubled quote is a quote."""
    position = 0
    while True:
        opening = block.find(b'"', position)  # outside quotes: a quote opens a field
        if opening < 0:  # not reached when the block ends inside quotes
            return len(block)
        close = opening + 1
        while True:
            close = block.find(b'"', close)
            if close < 0:
                return opening
            if block[close + 1 : close + 2] != b'"':
                break
            close += 2
        position = close + 1
