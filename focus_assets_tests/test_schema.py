import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest

from focus_assets.focus import schema
from focus_assets.focus.schema import AlibabaNulls, Kind

FIXTURES = Path(__file__).parent / "fixtures"


def focus_1_0_spec() -> dict[str, dict]:
    with open(FIXTURES / "focus_columns.csv", newline="") as handle:
        return {r["column_id"]: r for r in csv.DictReader(handle) if r["focus_version"] == "1.0"}


def test_the_43_focus_1_0_columns_match_the_specification():
    spec = focus_1_0_spec()
    assert len(spec) == 43
    ours = {c.name: c for c in schema.FOCUS_COLUMNS}
    assert set(ours) == set(spec)
    kinds = {"String": Kind.STRING, "Decimal": Kind.DECIMAL, "Date/Time": Kind.TIMESTAMP, "JSON": Kind.STRING_MAP}
    for name, row in spec.items():
        assert ours[name].kind is kinds[row["data_type"]], name
        assert ours[name].level == row["feature_level"], name
        assert ours[name].focus_nullable == (row["allows_nulls"] == "True"), name


def test_money_is_decimal_ids_are_strings_times_are_utc_and_tags_a_map():
    types = schema.polars_schema()
    for name in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice", "PricingQuantity"):
        assert types[name] == pl.Decimal(38, 10)
    for name in ("BillingAccountId", "SubAccountId", "SkuId", "SkuPriceId", "ResourceId", "x_InstanceID"):
        assert types[name] == pl.String
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        assert types[name] == pl.Datetime("us", "UTC")
    assert types["Tags"] == pl.Map(pl.String, pl.String)
    assert schema.input_column("Tags").kind.athena == "map<string,string>"
    assert schema.input_column("BilledCost").kind.athena == "decimal(38,10)"


def test_alibaba_extensions_promoted_tags_and_pipeline_columns_are_in_the_output():
    names = [c.name for c in schema.output_columns()]
    assert len(names) == len(set(names))
    for name in (
        "x_BillingItemCode",
        "x_BillingItemName",
        "x_CommodityCode",
        "x_CommodityName",
        "x_InstanceID",
        "ServiceProviderName",
        "HostProviderName",
        "x_ExtraColumns",
        "x_SourceObject",
        "x_SourceLine",
        "x_BatchTs",
        "x_SourceChanges",
        "x_TagsRaw",
        "x_ProviderNameRaw",
    ):
        assert name in names
    assert [n for n in names if n.startswith("x_Tag") and n not in ("x_TagsRaw", "x_TagsError")] == [
        f"x_Tag{t}" for t in schema.DEFAULT_PROMOTED_TAGS
    ]
    assert "yearmonth" not in names and "batch_ts" not in names  # partition columns live in folder names
    assert [c.name for c in schema.output_columns(("Team",))].count("x_TagTeam") == 1


def test_known_alibaba_gaps_are_recorded():
    by_name = {c.name: c for c in schema.FOCUS_COLUMNS}
    for name in ("ChargeDescription", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice"):
        assert by_name[name].alibaba_nulls is AlibabaNulls.ALWAYS
    for name in ("ListUnitPrice", "PricingUnit", "ResourceId", "ResourceType"):
        assert by_name[name].alibaba_nulls is AlibabaNulls.SOMETIMES
    assert by_name["ServiceCategory"].alibaba_may_omit and not by_name["BilledCost"].alibaba_may_omit
    assert by_name["BilledCost"].required_in_header


def test_polars_arrow_and_duckdb_agree_on_every_type(tmp_path):
    """A frame of the polars schema converts to the Arrow schema and reads back in DuckDB with
    the intended SQL types."""
    polars_schema = schema.polars_schema()
    row = {name: None for name in polars_schema}
    row.update(BilledCost=Decimal("-0.0000000001"), Tags={"k": "v"}, x_SourceLine=2, x_SourceChanges=["a"])
    frame = pl.DataFrame([row], schema=polars_schema)
    table = frame.to_arrow().cast(schema.arrow_schema())
    assert table.schema.field("Tags").type == pa.map_(pa.large_string(), pa.large_string())
    path = tmp_path / "one.parquet"
    frame.write_parquet(path)
    types = {row[0]: row[1] for row in duckdb.sql(f"DESCRIBE SELECT * FROM '{path}'").fetchall()}
    assert types["BilledCost"] == "DECIMAL(38,10)"
    assert types["ChargePeriodStart"] == "TIMESTAMP WITH TIME ZONE"
    assert types["Tags"] == "MAP(VARCHAR, VARCHAR)"
    assert duckdb.sql(f"SELECT BilledCost, Tags['k'] FROM '{path}'").fetchall() == [(Decimal("-1E-10"), "v")]


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_one_type_per_engine(kind):
    assert kind.polars is not None and kind.arrow is not None and kind.athena
