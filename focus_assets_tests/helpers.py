"""Small builders for export files in tests: write CSV text as .csv, .csv.gz or .zip."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import polars as pl

from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.transform import ObjectReport, convert_object

# The columns a file must have to be read; tests add what they exercise.
BASE_HEADER = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
]
BASE_ROW = {
    "BillingPeriodStart": "2026-01-01 00:00:00",
    "BillingPeriodEnd": "2026-02-01 00:00:00",
    "ChargePeriodStart": "2026-01-05 00:00:00",
    "ChargePeriodEnd": "2026-01-06 00:00:00",
    "BillingCurrency": "CNY",
    "BilledCost": "1.25",
    "EffectiveCost": "1.00",
    "ListCost": "2.00",
}
KEY = "focus-export/202601/20260106T080000/1234_26842_BillingItemDetail_202601.csv"


def csv_text(rows: list[dict[str, str]], header: list[str] | None = None, *, crlf: bool = False) -> str:
    header = header or list(dict.fromkeys([*BASE_HEADER, *(k for r in rows for k in r)]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n" if crlf else "\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**BASE_ROW, **row})
    return buffer.getvalue()


def write_export(path: Path, text: str | bytes | list[tuple[str, str | bytes]], *, bom: bool = False) -> Path:
    """Write `text` at `path`; its suffix chooses the format. For .zip, pass (member, text) pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def encode(value: str | bytes) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else value
        return (b"\xef\xbb\xbf" + data) if bom else data

    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, member_text in text:
                archive.writestr(member, encode(member_text))
    elif path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(encode(text), mtime=0))
    else:
        path.write_bytes(encode(text))
    return path


def convert_text(
    tmp_path: Path, text: str, *, key: str = KEY, settings: TransformSettings | None = None, **kwargs
) -> tuple[ObjectReport, pl.DataFrame, pl.DataFrame]:
    """Convert one CSV text; return the report, the typed rows and the quarantined rows."""
    source = write_export(tmp_path / "in" / key, text)
    report = convert_object(source, key, tmp_path / "out", settings or TransformSettings(), **kwargs)
    return report, read_outputs(report, "output"), read_outputs(report, "quarantine_output")


def read_outputs(report: ObjectReport, which: str) -> pl.DataFrame:
    paths = [getattr(m, which) for m in report.members if getattr(m, which)]
    return pl.concat([pl.read_parquet(p) for p in paths]) if paths else pl.DataFrame()


def digests(root: Path, pattern: str = "*") -> dict[str, str]:
    """The files under `root` matching `pattern` (hidden ones included), by content."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob(pattern))
        if p.is_file()
    }
