"""The C reader (focus_assets/focus/_records.c) against polars' reader, its reference.

For any text, the C reader must give exactly polars' frame or decline (None), and polars' reader
then reads it. Thousands of random texts, some written by a CSV writer and some byte soup of
the characters that matter, check that; named cases pin what it accepts and what it declines.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from focus_assets.focus import source, values
from focus_assets.focus.normalize import embedded_newlines
from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.source import CsvPiece, read_records, records_in_c, records_in_polars
from focus_assets.focus.splitting import MemberStart, object_events
from focus_assets.samples.alibaba import write_large_export

from .helpers import BASE_HEADER, convert_text, csv_text

NAMES = ["a", "b", "c"]
# Pieces of fields: the bytes that steer a CSV parser, text on both sides of the 12-byte line
# between a view's inline and referenced values, NULL spellings, multi-byte UTF-8, a NUL byte, and
# the makings of numbers (signs, points, exponents, digits past what decimal(38,10) holds).
ATOMS = [
    ",",
    '"',
    '""',
    "\n",
    "\r\n",
    "\r",
    " ",
    "x",
    "NULL",
    "null",
    "Null",
    "nULL",
    "é",
    "中文",
    "😀",
    "\x00",
    "twelve bytes",
    "thirteen byte",
    "a much longer value, over twelve bytes",
    '{"k": "v"}',
    "",
    "0",
    "-",
    "+",
    ".",
    "7",
    "0.0000000001",
    "12345678901234567890123456789",
    "1E5",
    "e-8",
    "E+01",
    "00000",
]


def reference(data: bytes, names: list[str], null_literals: bool = True) -> pl.DataFrame | None:
    """polars' frame, or None where polars refuses the text."""
    try:
        return records_in_polars(data, names, null_literals=null_literals)
    except pl.exceptions.PolarsError:
        return None


def check(
    data: bytes, names: list[str] = NAMES, null_literals: bool = True, decimal_columns: tuple[str, ...] = ()
) -> pl.DataFrame | None:
    """The C reader's frame, asserted equal to polars' (its typed money to polars' cast of the
    text, its dictionaries to the text); None where it declined."""
    records = records_in_c(
        data,
        names,
        data.count(b"\n") + 1,
        null_literals=null_literals,
        decimal_columns=decimal_columns,
        dictionary_columns=tuple(names),
    )
    if records is None:
        return None
    expected = reference(data, names, null_literals)
    assert expected is not None, f"polars refuses {data!r}, the C reader took it"
    assert records.text.schema == expected.schema and records.text.equals(expected), (
        f"{data!r}:\n{records.text}\n!=\n{expected}"
    )
    for name, typed in records.decimals.items():
        check_money(typed, expected[name], data)
    breaks = embedded_newlines(expected).to_list()  # the line breaks inside each row's fields
    assert (records.line_breaks.to_list() if records.line_breaks is not None else [0] * len(breaks)) == breaks, data
    assert records.line_breaks is None or any(breaks), data
    for name in names:
        check_dictionary(records.dictionaries.get(name), expected[name], data)
    return records.text


# The numbers the C reader types, as polars' cast and Python's Decimal both read them.
NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?([0-9]+))?")


def check_money(typed: pl.Series, text: pl.Series, data: bytes = b"") -> None:
    """Where the C reader typed a money value, it is the text's exact value, as Python's Decimal
    and polars' cast read it; where it left one (null), the text is no number it types: not a
    number, more decimals than the schema keeps, out of range, or an exponent of 7 digits or
    more. Null text is null."""
    cast = text.cast(typed.dtype, strict=False)
    for value, raw, polars_value in zip(typed.to_list(), text.to_list(), cast.to_list(), strict=True):
        if raw is None or value is not None:
            assert value is None or value == Decimal(raw) == polars_value, (data, raw, value)
            continue
        number = NUMBER.fullmatch(raw)
        exact = values.exact_decimal(raw) if number else None
        assert (
            exact is None
            or not values.fits_integer_digits(exact)
            or exact != values.round_to_scale(exact)
            or len(number.group(4) or "") > 6
        ), (data, raw)


def check_dictionary(dictionary, text: pl.Series, data: bytes = b"") -> None:
    """values[keys[row]] is the row's text, each distinct value is listed once, and a column of
    nulls alone has no dictionary."""
    if text.null_count() == len(text):
        assert dictionary is None, data
        return
    assert dictionary is not None and dictionary.keys.dtype == pl.UInt32, data
    assert dictionary.values.dtype == pl.String and dictionary.values.null_count() == 0, data
    assert dictionary.values.n_unique() == len(dictionary.values) == text.n_unique() - (1 if text.null_count() else 0)
    assert dictionary.keys.is_null().equals(text.is_null()), data
    assert dictionary.values.gather(dictionary.keys).equals(text, check_names=False), data


def written(rows: list[list[str]], quoting: int, crlf: bool) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, quoting=quoting, lineterminator="\r\n" if crlf else "\n").writerows(rows)
    return buffer.getvalue().encode()


def random_field(rng: random.Random) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.choice([0, 1, 1, 2, 3, 5])))


def test_the_c_reader_is_built():
    # CI has a C compiler: a failed build must fail here, not leave every piece to the fallback.
    assert source._records is not None


def test_csv_written_by_a_csv_writer_is_read_as_polars_reads_it():
    rng = random.Random(20261128)
    taken = 0
    for _ in range(1500):
        rows = [[random_field(rng) for _ in NAMES] for _ in range(rng.randint(1, 6))]
        data = written(rows, rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), rng.random() < 0.3)
        if rng.random() < 0.2:
            data = data.rstrip(b"\r\n")  # the last record without its line break
        if data and check(data) is not None:
            taken += 1
    # It takes plain CSV: it declines only what lies outside its grammar (here, a row of empty
    # fields written as a blank line by QUOTE_MINIMAL with one column, or text polars refuses).
    assert taken > 1200


def byte_soup(seed: int, texts: int) -> dict[str, int]:
    """Random records checked with `check`: three unquoted fields that may themselves hold
    separators, quotes and line breaks, now and then invalid UTF-8, random money columns."""
    rng = random.Random(seed)
    outcomes = {"taken": 0, "declined": 0}
    for _ in range(texts):
        data = "".join(
            ",".join(random_field(rng) for _ in NAMES) + rng.choice(["\n", "\r\n", "\n", ""])
            for _ in range(rng.randint(1, 5))
        ).encode()
        if rng.random() < 0.05:
            data = data[: rng.randint(0, len(data))] + b"\xff" + data[rng.randint(0, len(data)) :]  # invalid UTF-8
        for null_literals in (True, False):
            money = tuple(name for name in NAMES if rng.random() < 0.5)
            outcomes[
                "taken" if check(data, null_literals=null_literals, decimal_columns=money) is not None else "declined"
            ] += 1
    return outcomes


def test_counting_quotes_and_line_breaks_in_c_agrees_with_bytes_count():
    """The splitting's count (C, sixteen bytes at a time, then byte by byte) at every length
    around its block size and on random text: a piece is cut where these counts say."""
    rng = random.Random(7)
    texts = [bytes(rng.choice(b'"\n,a\r\xe4') for _ in range(length)) for length in [*range(70), 1000, 4097, 65537]]
    texts += [b'"' * 4096, b"\n" * 4097, b""]
    for text in texts:
        assert source._records.counts(text) == (text.count(b'"'), text.count(b"\n")), len(text)
    assert source._records.counts(memoryview(b'a"b\nc')[1:]) == (1, 1)


def test_byte_soup_is_read_as_polars_reads_it_or_declined():
    outcomes = byte_soup(28112026, 10000)
    assert outcomes["taken"] > 300 and outcomes["declined"] > 300


SANITIZED = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[2])
spec = importlib.util.spec_from_file_location("focus_assets.focus._records", sys.argv[1])
reader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reader)
from focus_assets.focus import source
source._records = reader
from focus_assets_tests import test_records
print(json.dumps(test_records.byte_soup(1, 10000)))
test_records.test_csv_written_by_a_csv_writer_is_read_as_polars_reads_it()
test_records.test_counting_quotes_and_line_breaks_in_c_agrees_with_bytes_count()
"""


def test_the_c_reader_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    """The C reader built with AddressSanitizer and UndefinedBehaviorSanitizer reads 20,000
    random texts and the CSV writer's 1,500: a read or write out of bounds, a use after free or
    undefined arithmetic (an overflow) aborts the child, which fails this test."""
    root = Path(__file__).resolve().parent.parent
    compiler = shutil.which("cc") or "gcc"
    library = tmp_path / ("_records" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run(
        [
            compiler,
            "-O1",
            "-g",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=undefined",
            "-fno-omit-frame-pointer",
            "-fPIC",
            "-shared",
            f"-I{sysconfig.get_paths()['include']}",
            str(root / "focus_assets" / "focus" / "_records.c"),
            "-o",
            str(library),
        ],
        check=True,
    )
    runtimes = [
        subprocess.run(
            [compiler, f"-print-file-name={name}"], capture_output=True, text=True, check=True
        ).stdout.strip()
        for name in ("libasan.so", "libubsan.so")
    ]
    env = {
        **os.environ,
        "LD_PRELOAD": " ".join(runtimes),
        "ASAN_OPTIONS": "detect_leaks=0",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
    }
    result = subprocess.run(
        [sys.executable, "-c", SANITIZED, str(library), str(root)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    outcomes = json.loads(result.stdout.splitlines()[0])
    assert outcomes["taken"] > 300 and outcomes["declined"] > 300


@pytest.mark.parametrize(
    "data",
    [
        b"1,2,3\n",
        b"1,2,3",
        b"1,2,3\r\n4,5,6\r\n",
        b'1,"",3\n',
        b"1,,\n",
        b",,\n",
        b'1,"a ""quoted"" word",3\n',
        b'"x\ny","x\r\ny",3\n',
        b'1,"2\r3",4\n',
        b'NULL,"null",Null\n',
        b"nULL, NULL ,3\n",
        "é,中文 over twelve bytes,😀\n".encode(),
        b"123456789012,1234567890123,3\n",
        b'"{""k"": ""v""}",2,3\n',
    ],
)
def test_what_the_c_reader_takes(data):
    frame = check(data)
    assert frame is not None


@pytest.mark.parametrize(
    "data",
    [
        b"1,2\n",  # a record short of a field
        b"1,2,3,4\n",  # a field too many
        b"1,2,3\n\n4,5,6\n",  # a blank line
        b'1,a"b,3\n',  # a quote inside an unquoted field
        b'1,"a"b,3\n',  # text after a closing quote
        b'1,2,"open\n',  # a quote that never closes
        b"1,2,\xff\n",  # not UTF-8
        b"1,2,3,",  # a trailing comma at the end
        b"1,2\r3,4\n",  # a carriage return other than in a line break (polars drops some)
        b"",
    ],
)
def test_what_the_c_reader_declines(data):
    assert records_in_c(data, NAMES, data.count(b"\n") + 1, null_literals=True) is None


# Numbers whose exact value decimal(38,10) holds: the C reader types them.
EXACT_NUMBERS = [
    "0",
    "-0",
    "12.5",
    "007.50",
    "-0.0000000001",
    "1234567890123456789012345678.9999999999",
    "0000000000000000000000000000001.5",
    "42",
    "",
    "1.5E-3",
    "1.23E-8",
    "-1.23e-08",
    "1.2E+27",
    "12.",
    ".5",
    "+1",
    "1.2300000000000",
    "0.00000000000E+5",
    "1.e1",
    ".1e1",
    "0e-400",
    "12300E-12",
    "9.999999999999999999999999999999999999E27",
]
# The rest it leaves to the typing (normalize.py): spaces, more decimals than kept, out of range,
# a far exponent, unusual spellings, no number at all.
OTHER_NUMBERS = [
    " 12.5",
    "1,5",
    "NaN",
    "NULL",
    "0.00000000001",
    "1.2345E-8",
    "12345E-14",
    "-",
    "1.2.3",
    "1E28",
    "1E0000001",
    "12345678901234567890123456789",
    "99999999999999999999999999999999999999",
    "１２",
    "1_000",
    "1e",
    ".e1",
    ".",
]


def test_money_comes_typed_where_its_exact_value_fits_and_the_rest_is_left():
    texts = EXACT_NUMBERS + OTHER_NUMBERS
    data = written([[str(i), text, "x"] for i, text in enumerate(texts)], csv.QUOTE_MINIMAL, crlf=False)
    records = records_in_c(data, NAMES, len(texts) + 1, null_literals=True, decimal_columns=("b",))
    assert records is not None
    assert records.decimals["b"].to_list() == [None if t in ("", "NULL") else Decimal(t) for t in EXACT_NUMBERS] + [
        None
    ] * len(OTHER_NUMBERS)
    check_money(records.decimals["b"], records.text["b"], data)


def reports_without_paths(report) -> list[dict]:
    members = [member.to_dict() for member in report.members]
    for member in members:
        member.pop("output")
        member["quarantine"].pop("file")
    return members


def convert_with_either_reader(tmp_path, monkeypatch, text: str, settings: TransformSettings) -> list[tuple]:
    """(report without paths, typed rows, quarantined rows) with the C reader, then without."""
    outputs = []
    for reader in ("c", "polars"):
        if reader == "polars":
            monkeypatch.setattr(source, "_records", None)
        report, typed, quarantined = convert_text(tmp_path / reader, text, settings=settings)
        outputs.append((reports_without_paths(report), typed, quarantined))
    return outputs


@pytest.mark.parametrize("seed", range(4))
def test_the_transform_gives_the_same_output_without_the_c_reader(tmp_path, monkeypatch, seed):
    """Money with plain and awkward numbers, NULL literals, quotes: the typed rows, the quarantine
    and the report (repairs, reconciliation to the cent) do not depend on which reader read."""
    rng = random.Random(seed)
    rows = [
        {
            "BilledCost": rng.choice(EXACT_NUMBERS + OTHER_NUMBERS),
            "EffectiveCost": rng.choice(EXACT_NUMBERS),
            "ListCost": rng.choice(EXACT_NUMBERS + [" 1.5E-3 ", "0.12345678905"] * (seed % 2)),
            "ServiceName": rng.choice(["ECS", "NULL", "", '"quoted"', "Object Storage Service, OSS"]),
        }
        for _ in range(300)
    ]
    text = csv_text(rows, crlf=seed == 3)
    settings = TransformSettings(piece_bytes=4096)  # many pieces
    (report_c, typed_c, quarantined_c), (report_polars, typed_polars, quarantined_polars) = convert_with_either_reader(
        tmp_path, monkeypatch, text, settings
    )
    assert typed_c.height + quarantined_c.height == 300 and quarantined_c.height > 0
    assert typed_c.equals(typed_polars) and quarantined_c.equals(quarantined_polars)
    assert report_c == report_polars


def test_a_column_with_more_distinct_values_than_the_dictionary_holds_has_none():
    """Up to 65,536 distinct values in a piece the reader lists them; past that the typing finds
    them itself (the same results, as the transform tests show)."""
    data = "".join(f"{i},{i % 3},\n" for i in range(70_000)).encode()
    records = records_in_c(data, NAMES, 70_001, null_literals=True, dictionary_columns=("a", "b", "c"))
    assert records is not None and set(records.dictionaries) == {"b"}  # a: too many; c: null on every row
    check_dictionary(records.dictionaries["b"], records.text["b"])
    assert records.dictionaries["b"].values.to_list() == ["0", "1", "2"]  # in the order the rows bring them
    small = records_in_c(data[: data.index(b"65536,")], NAMES, 70_001, null_literals=True, dictionary_columns=("a",))
    assert len(small.dictionaries["a"].values) == 65_536


TIMESTAMPS = ["2026-01-05 00:00:00", "2026-01-05T00:00:00Z", "2026-01-06 08:00:00", "not a time", "", "NULL"]
TAGS = ['{"app":"web"}', '  {"app":"web"}  ', "   ", "", '{"n":{"x":1}}', "not json", '{"Owner":"李"}', "NULL"]


@pytest.mark.parametrize("seed", range(3))
def test_timestamps_tags_and_names_type_alike_with_the_readers_dictionaries_or_without(tmp_path, monkeypatch, seed):
    """The C reader lists the distinct timestamps, Tags and provider names of a piece and the
    typing maps them by key; polars' reader leaves the typing to find them. Same rows,
    quarantine, repairs and reconciliation, with bad and shifted timestamps, blank and
    unparseable tags, numeric provider names and records of empty fields among them."""
    rng = random.Random(seed)
    rows = []
    for _ in range(400):
        rows.append(
            {
                "ChargePeriodStart": rng.choice(TIMESTAMPS),
                "ChargePeriodEnd": rng.choice(TIMESTAMPS[:3]),
                "Tags": rng.choice(TAGS),
                "ProviderName": rng.choice(["Alibaba Cloud", "26842", ""]),
                "PublisherName": rng.choice(["26842", "Alibaba Cloud"]),
            }
        )
        if rng.random() < 0.02:
            rows.append(dict.fromkeys([*BASE_HEADER, "Tags", "ProviderName", "PublisherName"], ""))
    text = csv_text(rows)
    settings = TransformSettings(piece_bytes=2048)
    (report_c, typed_c, quarantined_c), (report_polars, typed_polars, quarantined_polars) = convert_with_either_reader(
        tmp_path, monkeypatch, text, settings
    )
    assert quarantined_c.height > 0 and report_c[0]["repairs"] and report_c[0]["empty_records_skipped"] > 0
    assert typed_c.equals(typed_polars) and quarantined_c.equals(quarantined_polars)
    assert report_c == report_polars


def test_without_null_literals_null_is_text():
    frame = check(b"NULL,null,\n", null_literals=False)
    assert frame is not None and frame.row(0) == ("NULL", "null", None)


def test_an_export_is_read_by_the_c_reader_piece_by_piece(tmp_path):
    """The sample export (tags in JSON, Chinese names, empty columns) in small pieces: every
    piece is the C reader's, equal to polars' frame, and the frames outlive the pieces' bytes."""
    path = tmp_path / "export.csv.gz"
    write_large_export(path, 3000)
    events = list(object_events(path, "export.csv.gz", max_uncompressed_bytes=1 << 30, piece_bytes=64 * 1024))
    header = next(e for e in events if isinstance(e, MemberStart)).header
    names = next(csv.reader([header.decode()]))
    pieces = [e for e in events if isinstance(e, CsvPiece)]
    assert len(pieces) > 10
    frames = []
    for piece in pieces:
        records = records_in_c(
            piece.data,
            names,
            piece.line_breaks + 1,
            null_literals=True,
            decimal_columns=("BilledCost", "ListUnitPrice"),
        )
        assert records is not None and records.decimals.keys() == {"BilledCost", "ListUnitPrice"}
        expected = records_in_polars(piece.data, names, null_literals=True)
        assert records.text.equals(expected)
        assert records.decimals["BilledCost"].equals(expected["BilledCost"].cast(pl.Decimal(38, 10)), check_names=False)
        frames.append(records.text)
    expected = pl.concat([records_in_polars(p.data, names, null_literals=True) for p in pieces])
    del pieces, events
    assert pl.concat(frames).equals(expected)
    assert read_records(CsvPiece(b"1,2,3\n", 2, 1, True), NAMES, "x", null_literals=True).text.row(0) == ("1", "2", "3")
