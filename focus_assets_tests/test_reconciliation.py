"""The sample deliveries end to end: exact reconciliation against an independent reading of the
CSV text, and byte-stable re-runs."""

import csv
import gzip
import io
import zipfile
from collections import defaultdict
from decimal import Decimal, localcontext
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.transform import convert_object
from focus_assets.samples.alibaba import HEADER, TAGS, sample_deliveries, write_delivery, write_large_export

from .helpers import convert_text, csv_text, digests


def independent_rows(path: Path) -> list[dict[str, str]]:
    """The records of an export object, read with the standard library only."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        texts = [gzip.decompress(data)]
    elif data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            texts = [archive.read(n) for n in sorted(archive.namelist())]
    else:
        texts = [data]
    return [record for text in texts for record in csv.DictReader(io.StringIO(text.decode("utf-8-sig"), newline=""))]


def independent_sums(path: Path) -> tuple[int, dict]:
    """Rows and money per currency, read with the csv module and Python decimals only."""
    records = independent_rows(path)
    sums: dict = defaultdict(lambda: defaultdict(Decimal))
    for record in records:
        for column in ("BilledCost", "EffectiveCost", "ListCost"):
            sums[record["BillingCurrency"]][column] += Decimal(record[column])
    return len(records), sums


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    root = tmp_path_factory.mktemp("oss")
    return root, [(d, write_delivery(root, d)) for d in sample_deliveries()]


def convert_all(export, out: Path, settings=None):
    _, deliveries = export
    return [convert_object(path, d.key, out, settings) for d, path in deliveries]


def test_every_delivery_reconciles_to_the_cent_with_an_independent_reading(export, tmp_path):
    reports = convert_all(export, tmp_path)
    for (_, path), report in zip(export[1], reports, strict=True):
        rows, sums = independent_sums(path)
        summary = report.reconciliation.to_dict()
        assert summary["rows"] == {"read": rows, "written": rows, "quarantined": 0}
        assert summary["reconciled"] and summary["mismatches"] == []
        for currency, columns in sums.items():
            for column, amount in columns.items():
                assert Decimal(summary["money"][currency][column]["written"]) == amount, (path.name, currency, column)
    # And the Parquet agrees when summed by another engine.
    lake = pl.scan_parquet(tmp_path / "focus_alibaba_normalized" / "**" / "*.parquet")
    assert lake.select(pl.len()).collect().item() == sum(independent_sums(p)[0] for _, p in export[1])


def test_the_samples_look_like_alibaba_deliveries(export):
    root, deliveries = export
    keys = [d.key for d, _ in deliveries]
    assert keys[0].endswith("202512/20260103T100000/1234567890123456_26842_BillingItemDetail_202512.zip")
    assert {Path(k).suffix for k in keys} == {".zip", ".gz", ".csv"}
    snapshot = pl.read_csv(gzip.decompress((root / keys[1]).read_bytes()), infer_schema=False)
    assert tuple(snapshot.columns) == HEADER
    assert "ConsumedQuantity" not in snapshot.columns and "X_CommodityCode" in snapshot.columns
    assert snapshot["ProviderName"].unique().to_list() == ["1001"]
    assert snapshot["BilledCost"].cast(pl.Decimal(38, 10)).min() < 0  # credits and refunds
    assert snapshot["BillingCurrency"].unique().sort().to_list() == ["CNY", "USD"]
    assert snapshot["ContractedCost"].null_count() == snapshot.height
    assert (
        snapshot["ChargePeriodStart"].str.contains(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()
    )  # UTC+8, no offset
    assert set(snapshot["Tags"].drop_nulls().unique()) <= set(TAGS)
    later = pl.read_csv((root / keys[2]).read_bytes(), infer_schema=False)
    assert later.height == 2 * snapshot.height  # month to date: one more day each delivery


def test_the_generator_is_deterministic(tmp_path):
    first = write_delivery(tmp_path / "a", sample_deliveries()[1])
    second = write_delivery(tmp_path / "b", sample_deliveries()[1])
    assert first.read_bytes() == second.read_bytes()
    other_seed = write_delivery(tmp_path / "c", sample_deliveries()[1], seed=8)
    assert other_seed.read_bytes() != first.read_bytes()


def test_reruns_are_byte_stable(export, tmp_path):
    convert_all(export, tmp_path / "one")
    convert_all(export, tmp_path / "two")
    convert_all(export, tmp_path / "two")  # and again in place
    first, second = digests(tmp_path / "one"), digests(tmp_path / "two")
    assert first == second and len(first) == 7


def test_piece_size_changes_nothing_in_the_data(tmp_path):
    """Pieces bound memory; they must not leak into the result: same rows, values, line numbers
    and row groups. (Page boundaries inside nested columns may differ, so bytes are compared
    only between runs with the same settings, above.)"""
    path = write_large_export(tmp_path / "export.csv.gz", rows=30_000)
    key = "focus-export/202601/20260129T080000/big.csv.gz"
    small = convert_object(
        path, key, tmp_path / "small", TransformSettings(piece_bytes=256 * 1024, row_group_rows=8192)
    )
    large = convert_object(path, key, tmp_path / "large", TransformSettings(row_group_rows=8192))
    assert small.reconciliation.to_dict() == large.reconciliation.to_dict()
    assert small.reconciliation.rows_written == 30_000
    [small_file], [large_file] = (sorted((tmp_path / d).rglob("*.parquet")) for d in ("small", "large"))
    assert pl.read_parquet(small_file).equals(pl.read_parquet(large_file))
    row_groups = [
        [f.metadata.row_group(i).num_rows for i in range(f.metadata.num_row_groups)]
        for f in (pq.ParquetFile(small_file), pq.ParquetFile(large_file))
    ]
    assert row_groups[0] == row_groups[1] == [8192, 8192, 8192, 5424]


def test_typing_pieces_in_one_thread_or_several_gives_the_same_bytes(tmp_path):
    """Pieces are parsed and typed several at once and handed on in file order: the files (rows,
    line numbers, row groups, bytes) and the report are those of typing one piece at a time."""
    path = write_large_export(tmp_path / "export.csv.gz", rows=20_000)
    key = "focus-export/202601/20260129T080000/big.csv.gz"
    reports = {}
    for threads in (1, 2, 3):
        settings = TransformSettings(piece_bytes=128 * 1024, row_group_rows=4096, typing_threads=threads)
        reports[threads] = convert_object(path, key, tmp_path / str(threads), settings).reconciliation.to_dict()
    assert reports[1] == reports[2] == reports[3] and reports[1]["rows"]["read"] == 20_000
    assert digests(tmp_path / "1") == digests(tmp_path / "2") == digests(tmp_path / "3")
    assert len(digests(tmp_path / "1", "*.parquet")) == 1


def test_sums_too_large_for_128_bits_still_reconcile_exactly(tmp_path):
    # decimal(38,10) holds amounts up to 10^28, but 300 of them add up past what polars can sum in
    # 128 bits: the reconciliation sums those in Python, exactly, instead of failing.
    huge = "9999999999999999999999999999.9999999999"
    report, typed, _ = convert_text(tmp_path, csv_text([{"BilledCost": huge}] * 300 + [{"BilledCost": "-0.5"}]))
    [member] = report.members
    summary = member.to_dict()
    assert typed.height == 301 and summary["reconciled"]
    with localcontext(prec=100):
        expected = Decimal(huge) * 300 - Decimal("0.5")
    assert Decimal(summary["money"]["CNY"]["BilledCost"]["written"]) == expected
    assert summary["money"]["CNY"]["BilledCost"]["written"] == "2999999999999999999999999999999.49999997"
