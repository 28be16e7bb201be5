"""Other providers' FOCUS data for the cross-provider view, in the shapes their exports take:
the AWS rows of the public FOCUS sample as an AWS Data Export (typed Parquet, Tags a map), its
Microsoft and Oracle rows as the CSV exports of Azure and OCI (text, `NULL` for nulls, Tags JSON),
and the datacenter sample in the documented layout (docs/datacenter.md).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from ..focus.schema import FOCUS_COLUMNS, Kind
from ..sql_layer import SourceTable

HERE = Path(__file__).resolve().parent
PUBLIC_SAMPLE = HERE / "public" / "FOCUS-Sample-Data_FOCUS-1.0_focus_sample.csv"  # CC BY 4.0, see ATTRIBUTION.md
DATACENTER_SAMPLE = HERE / "datacenter_focus_sample.csv"
_TEXT_EXPORTS = {"azure": "Microsoft", "oci": "Oracle"}


def public_sample(provider: str) -> pl.DataFrame:
    """The public sample's rows of one ProviderName, as text exactly as in the file."""
    rows = pl.read_csv(PUBLIC_SAMPLE, infer_schema=False)
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
    sources["datacenter"] = SourceTable("datacenter_focus", DATACENTER_SAMPLE)
    return sources
