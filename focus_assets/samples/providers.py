"""Other providers' FOCUS data for the cross-provider view, in the shapes their exports take:
the AWS rows of the public FOCUS sample as an AWS Data Export (typed Parquet, Tags a map), its
Microsoft and Oracle rows as the CSV exports of Azure and OCI (text, `NULL` for nulls, Tags JSON),
and the datacenter sample in the documented layout (docs/datacenter.md).

The sample files ship in the wheel as package data and are read with `importlib.resources`; the
sources are written out as files of their own, so the views never name a path inside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from ..focus.schema import FOCUS_COLUMNS, Kind
from ..sql_layer import SourceTable

SAMPLES = resources.files("focus_assets.samples")
PUBLIC_SAMPLE = SAMPLES / "public" / "FOCUS-Sample-Data_FOCUS-1.0_focus_sample.csv"  # CC BY 4.0, see ATTRIBUTION.md
DATACENTER_SAMPLE = SAMPLES / "datacenter_focus_sample.csv"
_TEXT_EXPORTS = {"azure": "Microsoft", "oci": "Oracle"}


def public_sample(provider: str) -> pl.DataFrame:
    """The public sample's rows of one ProviderName, as text exactly as in the file."""
    rows = pl.read_csv(PUBLIC_SAMPLE.read_bytes(), infer_schema=False)
    return rows.filter(pl.col("ProviderName") == provider)


def write_aws_export(path: Path) -> Path:
    """The sample's AWS rows typed as an AWS Data Export (FOCUS 1.0) writes them to Parquet."""
    text = public_sample("AWS").with_columns(pl.all().replace("NULL", None))
    typed = []
    for column in FOCUS_COLUMNS:
        value = pl.col(column.name)
        if column.kind is Kind.DECIMAL:
            value = value.cast(Kind.WIDE_DECIMAL.polars)
        elif column.kind is Kind.TIMESTAMP:
            value = value.str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC")
        elif column.kind is Kind.STRING_MAP:
            value = value.str.json_decode(Kind.STRING_MAP.polars)
        typed.append(value.alias(column.name))
    path.parent.mkdir(parents=True, exist_ok=True)
    text.select(typed).write_parquet(path)
    return path


def write_sample_sources(root: Path) -> dict[str, SourceTable]:
    """Write the sample sources under `root` and return their configuration for the SQL layer."""
    root = Path(root)
    sources = {"aws_focus_1_0": SourceTable("aws_focus", write_aws_export(root / "aws" / "focus.parquet"))}
    for adapter, provider in _TEXT_EXPORTS.items():
        path = root / adapter / "focus.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        public_sample(provider).write_csv(path, null_value="NULL")
        sources[adapter] = SourceTable(f"{adapter}_focus", path)
    datacenter = root / "datacenter" / "focus.csv"
    datacenter.parent.mkdir(parents=True, exist_ok=True)
    datacenter.write_bytes(DATACENTER_SAMPLE.read_bytes())
    sources["datacenter"] = SourceTable("datacenter_focus", datacenter)
    return sources
