"""Every shape of input gives what the one-value rules of values.py give, row by row.

The typing decides valid values with vectorised polars expressions (and the C reader types most
money as it parses); only values that end in quarantine, or are rounded by the repair, are looked
at one by one in Python. These tests hold the fast paths to the exact slow path: each shape of
the benchmark (focus_assets.samples.alibaba.SHAPES) is typed with the C reader and with polars'
reader and compared, row by row, with Python's Decimal, `values.parse_timestamp` and `json`;
random number texts (E-notation, padded decimals, spaces, bad ones) and random Tags are compared
value by value.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from pathlib import Path

import polars as pl
import pytest

from focus_assets.focus import source
from focus_assets.focus.normalize import more_decimals_than_kept, promoted_tags
from focus_assets.focus.settings import Repairs, TransformSettings
from focus_assets.focus.transform import convert_object
from focus_assets.focus.values import parse_timestamp
from focus_assets.samples.alibaba import SHAPES, ExportShape, csv_bytes, export_rows, write_large_export

from .helpers import convert_text, csv_text, read_outputs

MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ListUnitPrice", "PricingQuantity")
TIMESTAMPS = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
PROMOTED = TransformSettings().promoted_tags
KEY = "focus-export/202601/20260129T080000/export.csv.gz"
_EXACT = Context(prec=200)


# --- the slow path, written out here from docs/transform.md's rules, one value at a time ---------------


def reference_money(text: str, settings: TransformSettings) -> tuple[Decimal | None, str | None, str | None]:
    """(typed value, problem, repair) of one delivered money text (an empty one is null)."""
    if text == "":
        return None, None, None
    stripped = text.strip()
    if stripped != text and not settings.repairs.strip_whitespace:
        return None, "not a number", None
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        return None, "not a number", None
    if not value.is_finite():
        return None, "not a number", None
    if value != 0 and value.adjusted() >= 28:
        return None, "out of range for decimal(38,10)", None
    rounded = value.quantize(Decimal("1E-10"), rounding=ROUND_HALF_EVEN, context=_EXACT)
    if rounded != 0 and rounded.adjusted() >= 28:
        return None, "out of range for decimal(38,10)", None
    repair = "whitespace" if stripped != text else None
    if rounded == value:
        return rounded, None, repair
    if settings.repairs.round_excess_decimals:
        return rounded, None, "rounded"
    return None, "more than 10 decimal places", repair


def reference_tags(text: str | None) -> dict | None:
    """A Tags text as a map: JSON strings as they are, numbers and booleans as their JSON text."""
    if text is None or not text.strip():
        return None
    raw = json.loads(text, parse_int=str, parse_float=str)
    return {key: value if value is None or isinstance(value, str) else json.dumps(value) for key, value in raw.items()}


def reference_promoted(tags: dict | None, tag: str) -> str | None:
    """The first key (in the JSON's order) equal to `tag` ignoring case, or None."""
    return next((value for key, value in (tags or {}).items() if key.lower() == tag.lower()), None)


# --- random texts ---------------------------------------------------------------------------


def random_number(rng: random.Random) -> str:
    """A money text as exports spell them, and as they go wrong."""
    digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    kind = rng.random()
    if kind < 0.1:  # not numbers, and spellings only Python's Decimal reads
        return rng.choice(
            [
                "1,234.50",
                "¥12",
                "NaN",
                "Infinity",
                "-",
                ".",
                "1e",
                "e5",
                "1.2.3",
                "abc",
                "١٢",
                "1_000",
                "0x10",
                "1E+-5",
                "",
                "١.٥E-3",
            ]
        )
    sign = rng.choice(["", "", "", "-", "+"])
    whole = digits(rng.choice([0, 1, 1, 2, 3, 6, 27, 28, 29]))
    fraction = digits(rng.choice([0, 1, 2, 4, 6, 9, 10, 11, 12, 15, 20]))
    if rng.random() < 0.3:
        fraction += "0" * rng.choice([1, 3, 5, 10])  # padded with zeros past the schema's 10 places
    text = whole + ("." + fraction if fraction or rng.random() < 0.2 else "")
    if not whole and not fraction:
        text = rng.choice(["0", ".5", "5."])
    if rng.random() < 0.4:
        exponent = rng.choice([0, 1, 2, 3, 5, 8, 10, 11, 12, 20, 27, 28, 40, 400])
        text += rng.choice("eE") + rng.choice(["", "+", "-", "-", "-"]) + str(exponent).zfill(rng.choice([1, 2]))
    if rng.random() < 0.1:
        text = rng.choice([" ", "  ", "\t"]) + text + rng.choice(["", " "])
    return sign + text


def random_tag_text(rng: random.Random) -> str:
    keys = [
        "Project",
        "project",
        "PROJECT",
        "Owner",
        "owner",
        "Brand",
        "CostCenter",
        "costcenter",
        "Environment",
        "Application",
        "K",
        "İnfo",
        "ΣΑΣ",
        "项目",
        "负责人",
        "team",
        "app.kubernetes.io/name",
        "🚀",
    ]
    members = [
        (rng.choice(keys), rng.choice(['"v"', '"李伟"', '"x y"', "null", "12", "1.5", "true", '"Ω"', '""']))
        for _ in range(rng.randint(0, 6))
    ]
    return "{" + ",".join(f"{json.dumps(key, ensure_ascii=rng.random() < 0.5)}:{value}" for key, value in members) + "}"


def reasons(quarantined: pl.DataFrame) -> list[tuple[int, str]]:
    """(line, first reason without the quoted value) of each quarantined row."""
    if quarantined.is_empty():
        return []
    return [(line, reason.split(" (")[0]) for line, reason in quarantined.select("x_SourceLine", "reason").rows()]


# --- the tests --------------------------------------------------------------------------------


def test_excess_decimals_are_found_on_the_digits_as_decimal_finds_them():
    rng = random.Random(22)
    texts = [random_number(rng) for _ in range(20_000)]
    found = more_decimals_than_kept(pl.Series(texts)).to_list()
    checked = 0
    for text, excess in zip(texts, found, strict=True):
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            continue
        if excess is None or not value.is_finite() or not text.strip().isascii() or "_" in text:
            continue
        checked += 1
        exact_places = -value.normalize(_EXACT).as_tuple().exponent if value != 0 else 0
        assert excess == (exact_places > 10), text
    assert checked > 15_000


@pytest.mark.parametrize("rounding", [False, True])
@pytest.mark.parametrize("reader", ["c", "polars"])
def test_random_money_texts_type_as_decimal_reads_them(tmp_path, monkeypatch, reader, rounding):
    """E-notation, zeros past 10 places, spaces, signs, bad texts: each row's value, repair and
    quarantine reason are those of the one-value rule, with either reader, rounding or not."""
    if reader == "polars":
        monkeypatch.setattr(source, "_records", None)
    rng = random.Random(2026 + rounding)
    texts = [random_number(rng) for _ in range(3_000)]
    settings = TransformSettings(piece_bytes=16 * 1024, repairs=Repairs(round_excess_decimals=rounding))
    report, typed, quarantined = convert_text(tmp_path, csv_text([{"BilledCost": t} for t in texts]), settings=settings)
    expected = [reference_money(text, settings) for text in texts]
    kept = [(value, repair) for value, problem, repair in expected if problem is None]
    assert typed["BilledCost"].to_list() == [value for value, _ in kept]
    assert [[c for c in changes if c.startswith("BilledCost")] for changes in typed["x_SourceChanges"].to_list()] == [
        [f"BilledCost:{repair}"] if repair else [] for _, repair in kept
    ]
    problems = [(line, problem) for line, (_, problem, _) in enumerate(expected, start=2) if problem]
    assert reasons(quarantined) == [(line, f"BilledCost: {problem}") for line, problem in problems]
    assert len(problems) > 300 and (rounding or any(p == "more than 10 decimal places" for _, p in problems))
    summary = report.members[0].to_dict()
    assert summary["reconciled"] is not any(repair == "rounded" for _, repair in kept)


def test_promoted_tags_match_keys_as_python_lowers_them():
    rng = random.Random(5)
    texts = [random_tag_text(rng) for _ in range(3_000)]
    maps = pl.Series(texts).str.json_decode(pl.Map(pl.String, pl.String))
    tags = ("Project", "Owner", "Brand", "CostCenter", "Environment", "Application", "k", "info", "σας")
    found = promoted_tags(maps, tags)
    for row, text in enumerate(texts):
        reference = reference_tags(text)
        assert maps[row] == reference, text
        for tag in tags:
            assert found[tag][row] == reference_promoted(reference, tag), (text, tag)


def reference_records(path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """(line, record) of an export, read with the csv module; empty fields are None."""
    text = io.StringIO(gzip.decompress(path.read_bytes()).decode("utf-8"), newline="")
    reader = csv.DictReader(text)
    records, line = [], 2
    for record in reader:
        records.append((line, {k: (v if v != "" else None) for k, v in record.items()}))
        line = reader.line_num + 1
    return records


# Each benchmark shape, and the excess-decimals shape with excess cells common enough to test.
TESTED_SHAPES = {**SHAPES, "excess-decimals, dense": ExportShape(padded_decimals=15, excess_decimal_cells_one_in=40)}


@pytest.mark.parametrize(
    "shape, rounding", [*((shape, False) for shape in TESTED_SHAPES), ("excess-decimals, dense", True)]
)
def test_every_shape_types_row_by_row_as_the_one_value_rules_do(tmp_path, monkeypatch, shape, rounding):
    """A small export of each shape, in many pieces, typed with the C reader and with polars'
    reader: the same rows, quarantine and report, and every row's money, timestamps, Tags and
    promoted tags as the reference reading of its text gives them (with excess decimals
    rounded by the repair, too)."""
    export = write_large_export(tmp_path / "export.csv.gz", 3_000, shape=TESTED_SHAPES[shape])
    settings = TransformSettings(piece_bytes=96 * 1024, repairs=Repairs(round_excess_decimals=rounding))
    outputs = []
    for reader in ("c", "polars"):
        if reader == "polars":
            monkeypatch.setattr(source, "_records", None)
        report = convert_object(export, KEY, tmp_path / reader, settings)
        outputs.append(
            (report.members[0].to_dict(), read_outputs(report, "output"), read_outputs(report, "quarantine_output"))
        )
    (summary, typed, quarantined), (summary_polars, typed_polars, quarantined_polars) = outputs
    assert typed.equals(typed_polars) and quarantined.equals(quarantined_polars)
    for report in (summary, summary_polars):
        for key in ("output", "quarantine"):
            report.pop(key)
    assert summary == summary_polars

    kept, set_aside = [], []
    for line, record in reference_records(export):
        money = {
            column: reference_money(record[column], settings) if record[column] is not None else (None, None, None)
            for column in MONEY
        }
        problems = [f"{column}: {problem}" for column, (_, problem, _) in money.items() if problem]
        (set_aside if problems else kept).append((line, record, money, problems))
    assert reasons(quarantined) == [(line, problems[0]) for line, _, _, problems in set_aside]
    assert typed["x_SourceLine"].to_list() == [line for line, _, _, _ in kept]
    for column in MONEY:
        assert typed[column].to_list() == [money[column][0] for _, _, money, _ in kept], column
    for column in TIMESTAMPS:
        assert typed[column].to_list() == [
            parse_timestamp(record[column], settings.source_timezone)[0] for _, record, _, _ in kept
        ], column
    tags = [reference_tags(record["Tags"]) for _, record, _, _ in kept]
    assert typed["Tags"].to_list() == tags
    for tag in PROMOTED:
        assert typed[f"x_Tag{tag}"].to_list() == [reference_promoted(t, tag) for t in tags], tag
    assert typed["ResourceName"].to_list() == [record["ResourceName"] for _, record, _, _ in kept]
    rounded = [column for _, _, money, _ in kept for column, (_, _, repair) in money.items() if repair == "rounded"]
    assert summary["reconciled"] is not bool(rounded)  # rounding changes money, and the reconciliation says so
    if "dense" in shape:
        assert rounded if rounding else set_aside, "the dense shape has cells with excess decimals"


def test_the_shapes_are_what_they_say():
    """What each shape changes in the text (the benchmark's table describes them so)."""
    rows = 20_000

    def frame(name: str) -> pl.DataFrame:
        return export_rows("202601", 28, -(-rows // 28), 7, 0, rows, SHAPES[name])

    assert csv_bytes(frame("plain")) == csv_bytes(export_rows("202601", 28, -(-rows // 28), 7, 0, rows))
    money = pl.concat([frame("e-notation-5").select(pl.col(c).alias("v")) for c in MONEY]).drop_nulls()["v"]
    share = money.str.contains("[eE]").mean()
    assert 0.04 < share < 0.06
    money = pl.concat([frame("e-notation-50").select(pl.col(c).alias("v")) for c in MONEY]).drop_nulls()["v"]
    assert 0.45 < money.str.contains("[eE]").mean() < 0.55
    padded = frame("excess-decimals")
    assert padded["BilledCost"].str.contains(r"\.[0-9]{15}$").all()
    quoted = frame("quoted")["ResourceName"]
    assert 0.005 < quoted.str.contains('"', literal=True).mean() < 0.015
    assert quoted.str.contains("\n", literal=True).sum() == quoted.str.contains('"', literal=True).sum()
    unicode_tags = frame("unicode-tags")["Tags"]
    assert unicode_tags.str.len_bytes().min() > 500 and not unicode_tags.str.contains("^[ -~]*$").any()
    many = frame("many-tag-keys")["Tags"]
    assert many.n_unique() > 0.99 * rows
    keys = many.str.json_decode(pl.Map(pl.String, pl.String)).map.keys().explode().n_unique()
    assert keys > 4_000
    stamps = frame("mixed-timestamps")["ChargePeriodStart"]
    for pattern in (r"^\d{4}-\d\d-\d\d \d\d:00:00$", r"\+08:00$", r"\.000\+0800$", r"Z$"):
        assert 0.2 < stamps.str.contains(pattern).mean() < 0.3, pattern
