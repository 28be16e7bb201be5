"""A corpus of bad and awkward export objects, each with the one outcome it must have.

A case is a file name that says what the object is, a builder of its bytes (deterministic, no
files needed) and exactly one expected outcome:

- `Typed`: the object converts; the interesting columns hold exactly these values.
- `Quarantined`: one row (at `line`) is set aside with its reason and raw values, the other rows
  are typed, and the reconciliation counts it.
- `Failed`: `convert_object` raises ExportFileError, whose one-line text is the object key
  followed by `message_regex` (matched in full); nothing of the object is left in the output
  folder, not even a staging file.

Decisions worth knowing (docs/reliability.md's figures come from `summary()`):
- A quote that never closes fails the object, naming the line where the quote opened: the parser
  would otherwise read the rest of the file as one field.
- Money that is not a plain number (thousands separators, currency symbols, NaN, Infinity) sends
  its row to quarantine: never guessed, never summed.
- Tags with the same key twice: the last value wins, in the map and in the promoted column alike
  (the fast and the per-value decoding agree). Keys that differ only in case are different keys:
  the map keeps both; the promoted column takes the first of them in delivered order.
- Tags that are not a JSON object keep their row: Tags null, the text in x_TagsRaw, the reason in
  x_TagsError (Repairs.keep_rows_with_unparseable_tags).
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from focus_assets.focus.settings import TransformSettings

from .helpers import BASE_HEADER, csv_text

UTC = UTC


@dataclass(frozen=True)
class Typed:
    rows: int
    values: dict[str, list] = field(default_factory=dict)  # column -> its value on each typed row


@dataclass(frozen=True)
class Quarantined:
    line: int
    column: str
    reason_startswith: str
    raw: str  # the quarantined row's value in `column`, as delivered
    typed_rows: int = 2


@dataclass(frozen=True)
class Failed:
    message_regex: str  # what follows the object key in the message, matched in full

    @classmethod
    def saying(cls, text: str) -> Failed:
        return cls(re.escape(text))


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    expected: Typed | Quarantined | Failed
    settings: TransformSettings = field(default_factory=TransformSettings)


# --- builders ------------------------------------------------------------------------------------


def _csv(rows: list[dict[str, str]], **kwargs) -> bytes:
    return csv_text(rows, **kwargs).encode()


def _bad_row(column: str, value: str) -> Callable[[], bytes]:
    """A good row, the bad one (line 3), a good row."""
    return lambda: _csv([{}, {column: value}, {}])


def _zip(*members: tuple[str, bytes, int]) -> bytes:
    """A zip of (name, data, compression) members, with fixed dates (zipfile's own are 'now')."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, compression in members:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 6, 8, 0, 0))
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def _many_rows(count: int) -> bytes:
    """Rows that do not compress to nothing: distinct resource ids and costs."""
    return _csv(
        [
            {"ResourceId": f"i-{i * 7919 % 1_000_003:07d}", "BilledCost": f"{i * 37 % 10_000}.{i % 100:02d}"}
            for i in range(count)
        ]
    )


def _lines(rows: int = 3) -> list[str]:
    return csv_text([{}] * rows).splitlines(keepends=True)


def _with_record(line: int, record: str, rows: int = 3) -> Callable[[], bytes]:
    """`rows` good records with `record` (a raw CSV line) put at `line`."""

    def build() -> bytes:
        lines = _lines(rows)
        return "".join([*lines[: line - 1], record, *lines[line - 1 :]]).encode()

    return build


def _truncated_gzip() -> bytes:
    data = gzip.compress(_many_rows(3000), mtime=0)
    return data[: len(data) // 2]


def _truncated_zip() -> bytes:
    data = _zip(("bill.csv", _many_rows(300), zipfile.ZIP_DEFLATED))
    return data[: len(data) // 2]


def _zip_member_bad_crc() -> bytes:
    """The first member is fine; the second is stored uncompressed and one digit of it changed
    after its CRC was taken (bit rot): only the end of that member can tell."""
    second = _many_rows(200)
    data = _zip(("a_1.csv", _csv([{}, {}]), zipfile.ZIP_DEFLATED), ("b_2.csv", second, zipfile.ZIP_STORED))
    at = data.rindex(second) + second.rindex(b"i-") + 2
    return data[:at] + (b"8" if data[at : at + 1] == b"9" else b"9") + data[at + 1 :]


def _zip_bomb() -> bytes:
    lines = _lines(1)
    return _zip(("bomb.csv", (lines[0] + lines[1] * 60_000).encode(), zipfile.ZIP_DEFLATED))


HTML = b"<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head>\n<body><h1>AccessDenied</h1></body></html>\n"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
OSS_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>NoSuchKey</Code>\n'
    b"  <Message>The specified key does not exist.</Message>\n</Error>\n"
)
REQUIRED = "BilledCost, BillingCurrency, BillingPeriodEnd, BillingPeriodStart, ChargePeriodEnd, ChargePeriodStart"

ONE_MB = ('web-01,"quoted" ' * 65_536)[: 1 << 20]  # commas and quotes, which the CSV must quote
LONG_TAGS = {**{f"team-{i:04d}": f"value-{i:04d}-" + "x" * 12 for i in range(5_000)}, "Brand": "acme"}
UNICODE_TAGS = '{"品牌":"阿里云","Owner":"\\u674e\\u4f1f","emoji":"🚀","Brand":"Ünïcødé"}'
DUPLICATE_TAGS = (
    '{"Brand":"first","Project":"atlas","Brand":"second"}',  # fast path
    '{"Brand":"first","Team":{"x":1},"Brand":"second"}',  # per-value path (nested value)
    '{"brand":"first","Brand":"second"}',
)  # case variants: two keys


def _timestamp(name: str, text: str, utc: datetime) -> Case:
    return Case(
        f"timestamp_{name}.csv", lambda: _csv([{"ChargePeriodStart": text}]), Typed(1, {"ChargePeriodStart": [utc]})
    )


def _bad_timestamp(name: str, text: str) -> Case:
    return Case(
        f"timestamp_{name}.csv",
        _bad_row("ChargePeriodStart", text),
        Quarantined(3, "ChargePeriodStart", f"ChargePeriodStart: unparseable timestamp ({text!r})", text),
    )


MIDNIGHT_BEIJING = datetime(2026, 1, 4, 16, tzinfo=UTC)  # 5 January 00:00 in UTC+8


# --- the table -----------------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    # Objects that are not (whole) CSV exports
    Case("empty_object.csv", lambda: b"", Failed.saying(": empty object (0 bytes)")),
    Case(
        "truncated.csv.gz",
        _truncated_gzip,
        Failed.saying(
            ": corrupt or truncated compressed data (Compressed file ended before the end-of-stream marker was reached)"
        ),
        TransformSettings(piece_bytes=64 * 1024),
    ),  # pieces are typed and staged before the end is found missing
    Case("corrupt.zip", _truncated_zip, Failed.saying(": corrupt zip (File is not a zip file)")),
    Case(
        "zip_member_bad_crc.zip",
        _zip_member_bad_crc,
        Failed.saying("!b_2.csv: corrupt or truncated compressed data (Bad CRC-32 for file 'b_2.csv')"),
        TransformSettings(piece_bytes=256),
    ),  # a_1.csv is written before b_2.csv fails: it must go too
    Case(
        "zip_without_csv.zip",
        lambda: _zip(("readme.txt", b"no bill here", zipfile.ZIP_DEFLATED)),
        Failed.saying(": zip holds no .csv file"),
    ),
    Case(
        "zip_bomb.zip",
        _zip_bomb,
        Failed.saying("!bomb.csv: expands past the configured limit of 1,000,000 bytes; not read"),
        TransformSettings(max_uncompressed_bytes=1_000_000),
    ),
    Case(
        "html_error_page.csv",
        lambda: HTML,
        Failed.saying(
            f", line 1: not a CSV: looks like an HTML page ('<!DOCTYPE html>'); "
            f"header lacks required column(s) {REQUIRED}"
        ),
    ),
    Case(
        "pdf_file.csv",
        lambda: PDF,
        Failed.saying(
            f", line 1: not a CSV: looks like a PDF document ('%PDF-1.7'); header lacks required column(s) {REQUIRED}"
        ),
    ),
    Case(
        "xml_error_response.csv",
        lambda: OSS_ERROR,
        Failed.saying(
            ', line 1: not a CSV: looks like an XML document (\'<?xml version="1.0" encoding="UTF-8"?>\'); '
            f"header lacks required column(s) {REQUIRED}"
        ),
    ),
    # Headers
    Case("header_only.csv", lambda: _csv([]), Typed(0)),
    Case(
        "semicolon_delimited.csv",
        lambda: csv_text([{}]).replace(",", ";").encode(),
        Failed.saying(
            f", line 1: header lacks required column(s) {REQUIRED}; the header is a single column "
            "('BillingPeriodStart;BillingPeriodEnd;ChargePeriodStart;Charge'): wrong delimiter, or not a CSV?"
        ),
    ),
    Case(
        "duplicated_header_column.csv",
        lambda: _csv([{}], header=["BilledCost", *BASE_HEADER]),
        Failed.saying(", line 1, column BilledCost: duplicated header column"),
    ),
    Case(
        "missing_billedcost.csv",
        lambda: _csv([{}], header=[c for c in BASE_HEADER if c != "BilledCost"]),
        Failed.saying(", line 1: header lacks required column(s) BilledCost"),
    ),
    Case(
        "bom.csv",
        lambda: b"\xef\xbb\xbf" + _csv([{"BilledCost": "3.5"}]),
        Typed(
            1,
            {
                "BilledCost": [Decimal("3.5")],
                "BillingPeriodStart": [datetime(2025, 12, 31, 16, tzinfo=UTC)],
                "x_ExtraColumns": [None],
            },
        ),
    ),  # the BOM is not part of the first column's name
    # Records
    Case(
        "crlf.csv",
        lambda: _csv([{"ResourceName": "a"}, {"ResourceName": "b"}], crlf=True),
        Typed(2, {"ResourceName": ["a", "b"], "x_SourceLine": [2, 3]}),
    ),  # no '\r' left on the last field
    Case(
        "embedded_newlines.csv",
        lambda: _csv(
            [{"ResourceName": "line one\nline two"}, {"ResourceName": "crlf\r\ninside"}, {"ResourceName": "x"}]
        ),
        Typed(3, {"ResourceName": ["line one\nline two", "crlf\r\ninside", "x"], "x_SourceLine": [2, 4, 6]}),
    ),
    Case(
        "latin1_bytes.csv",
        lambda: _csv([{}, {"ResourceName": "café"}, {}]).replace("é".encode(), b"\xe9"),
        Failed.saying(": unreadable CSV in lines 2-4 (invalid utf-8 sequence)"),
    ),
    Case(
        "too_many_fields.csv",
        _with_record(3, "a,b,c,d,e,f,g,h,i\n"),
        Failed.saying(", line 3: record has 9 fields, the header has 8"),
    ),
    Case(
        "too_few_fields.csv",
        _with_record(3, "2026-01-01 00:00:00,2026-02-01 00:00:00,CNY\n"),
        Failed.saying(", line 3: record has 3 fields, the header has 8"),
    ),
    Case(
        "unterminated_quote.csv",  # the quote opens on line 3 and swallows line 4 to the end
        _with_record(
            3, '2026-01-01 00:00:00,2026-02-01 00:00:00,2026-01-05 00:00:00,2026-01-06 00:00:00,CNY,"1.25,1,2\n', 2
        ),
        Failed.saying(", line 3: unterminated quoted field: the quote opened on this line never closes"),
    ),
    Case("one_mb_field.csv", lambda: _csv([{"ResourceName": ONE_MB}, {}]), Typed(2, {"ResourceName": [ONE_MB, None]})),
    # Money
    Case(
        "money_thousands_separator.csv",
        _bad_row("BilledCost", "1,234.50"),
        Quarantined(3, "BilledCost", "BilledCost: not a number ('1,234.50')", "1,234.50"),
    ),
    Case(
        "money_currency_symbol.csv",
        _bad_row("BilledCost", "¥12.00"),
        Quarantined(3, "BilledCost", "BilledCost: not a number ('¥12.00')", "¥12.00"),
    ),
    Case(
        "money_nan.csv",
        _bad_row("BilledCost", "NaN"),
        Quarantined(3, "BilledCost", "BilledCost: not a number ('NaN')", "NaN"),
    ),
    Case(
        "money_infinity.csv",
        _bad_row("EffectiveCost", "-Infinity"),
        Quarantined(3, "EffectiveCost", "EffectiveCost: not a number ('-Infinity')", "-Infinity"),
    ),
    Case(
        "money_too_many_decimals.csv",
        _bad_row("BilledCost", "0.12345678901"),
        Quarantined(3, "BilledCost", "BilledCost: more than 10 decimal places ('0.12345678901')", "0.12345678901"),
    ),
    # Timestamps: every form Alibaba may write (Alibaba's export documentation), then garbage
    _timestamp("space_no_offset", "2026-01-05 00:00:00", MIDNIGHT_BEIJING),  # read in UTC+8 (Alibaba's gap)
    _timestamp("iso_t_no_offset", "2026-01-05T00:00:00", MIDNIGHT_BEIJING),
    _timestamp("iso_z", "2026-01-04T16:00:00Z", MIDNIGHT_BEIJING),
    _timestamp("offset_0800", "2026-01-05T00:00:00+08:00", MIDNIGHT_BEIJING),
    _timestamp("offset_compact", "2026-01-05T00:00:00+0800", MIDNIGHT_BEIJING),
    _timestamp("milliseconds", "2026-01-05 00:00:00.123", MIDNIGHT_BEIJING.replace(microsecond=123_000)),
    _timestamp("milliseconds_z", "2026-01-04T16:00:00.123Z", MIDNIGHT_BEIJING.replace(microsecond=123_000)),
    _timestamp("slashes", "2026/01/05 00:00:00", MIDNIGHT_BEIJING),
    _timestamp("date_only", "2026-01-05", MIDNIGHT_BEIJING),
    _bad_timestamp("garbage", "not a date"),
    _bad_timestamp("day_first", "05/01/2026 00:00:00"),  # 5 January or 1 May: never guessed
    _bad_timestamp("epoch_seconds", "1767542400"),
    _bad_timestamp("impossible_date", "2026-02-30 00:00:00"),
    _bad_timestamp("named_zone", "2026-01-05 00:00:00 CST"),  # China or US Central: never guessed
    # Tags
    Case(
        "tags_invalid_json.csv",
        lambda: _csv([{"Tags": '{"Brand":"acme"}'}, {"Tags": "Brand:acme; Project:atlas"}]),
        Typed(
            2,
            {
                "Tags": [{"Brand": "acme"}, None],
                "x_TagBrand": ["acme", None],
                "x_TagsRaw": [None, "Brand:acme; Project:atlas"],
                "x_TagsError": [None, "invalid JSON (Expecting value: line 1 column 1 (char 0))"],
            },
        ),
    ),
    Case(
        "tags_nested_object.csv",
        lambda: _csv([{"Tags": '{"Brand":"acme","Team":{"name":"search","size":12},"Project":"atlas"}'}]),
        Typed(
            1,
            {
                "Tags": [{"Brand": "acme", "Team": '{"name":"search","size":12}', "Project": "atlas"}],
                "x_TagProject": ["atlas"],
                "x_TagsError": [None],
            },
        ),
    ),
    Case(
        "tags_array.csv",
        lambda: _csv([{"Tags": '[{"Key":"Brand","Value":"acme"}]'}]),
        Typed(
            1,
            {
                "Tags": [None],
                "x_TagBrand": [None],
                "x_TagsRaw": ['[{"Key":"Brand","Value":"acme"}]'],
                "x_TagsError": ["not a JSON object (a JSON list)"],
            },
        ),
    ),
    Case(
        "tags_duplicate_keys.csv",
        lambda: _csv([{"Tags": t} for t in DUPLICATE_TAGS]),
        Typed(
            3,
            {
                "Tags": [
                    {"Brand": "second", "Project": "atlas"},
                    {"Brand": "second", "Team": '{"x":1}'},
                    {"brand": "first", "Brand": "second"},
                ],
                "x_TagBrand": ["second", "second", "first"],
                "x_TagProject": ["atlas", None, None],
            },
        ),
    ),
    Case(
        "tags_very_long.csv",
        lambda: _csv([{"Tags": json.dumps(LONG_TAGS)}, {}]),  # about 200 KB
        Typed(2, {"Tags": [LONG_TAGS, None], "x_TagBrand": ["acme", None], "x_TagsError": [None, None]}),
    ),
    Case(
        "tags_unicode.csv",
        lambda: _csv([{"Tags": UNICODE_TAGS}]),
        Typed(
            1,
            {
                "Tags": [{"品牌": "阿里云", "Owner": "李伟", "emoji": "🚀", "Brand": "Ünïcødé"}],
                "x_TagBrand": ["Ünïcødé"],
                "x_TagOwner": ["李伟"],
            },
        ),
    ),
)


def summary() -> dict[str, int]:
    """How many cases, and how many of each outcome: the figures docs/reliability.md quotes."""
    kinds = Counter(type(case.expected).__name__ for case in CASES)
    return {"cases": len(CASES), **{kind: kinds[kind] for kind in ("Typed", "Quarantined", "Failed")}}
