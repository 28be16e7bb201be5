"""The transform end to end on real files: typing, repairs, quarantine, lineage, layout."""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from focus_assets.focus.normalize import categorical_columns
from focus_assets.focus.settings import Derivations, Repairs, TransformSettings
from focus_assets.focus.source import ExportFileError
from focus_assets.focus.transform import convert_object

from .helpers import KEY, convert_text, csv_text, read_outputs, write_export

UTC = UTC


# The FOCUS 1.2 derivations flag every row (test_derivations.py): off where a test looks at repairs alone.
NO_DERIVATIONS = Derivations(service_categories=False, pricing_currency=False, account_types=False)


def only(report):
    [member] = report.members
    return member.to_dict()


def test_missing_known_columns_become_typed_nulls_and_unknown_columns_are_kept(tmp_path):
    text = csv_text([{"X_InstanceID": "i-1", "CostUnit": "cu-9", "Region Group": "east"}])
    report, typed, _ = convert_text(tmp_path, text)
    summary = only(report)
    assert "ServiceName" in summary["columns"]["missing"] and "Tags" in summary["columns"]["missing"]
    assert summary["columns"]["unknown"] == ["CostUnit", "Region Group"]
    assert summary["columns"]["renamed"] == {"X_InstanceID": "x_InstanceID"}
    assert typed.schema["ServiceName"] == pl.String and typed["ServiceName"].to_list() == [None]
    assert typed.schema["PricingQuantity"] == pl.Decimal(38, 10) and typed["PricingQuantity"].to_list() == [None]
    assert typed["x_InstanceID"].to_list() == ["i-1"]
    assert typed["x_ExtraColumns"].to_list() == [{"CostUnit": "cu-9", "Region Group": "east"}]
    assert "ServiceName" in summary["columns"]["null_on_every_row"]


def test_empty_strings_and_the_literal_null_are_null(tmp_path):
    text = csv_text(
        [
            {"ServiceName": "NULL", "RegionId": "", "SkuId": "null", "ListUnitPrice": "NULL"},
            {"ServiceName": "ECS", "RegionId": "cn-hangzhou", "SkuId": "0012", "ListUnitPrice": "0.5"},
        ]
    )
    _, typed, _ = convert_text(tmp_path, text)
    assert typed["ServiceName"].to_list() == [None, "ECS"]
    assert typed["RegionId"].to_list() == [None, "cn-hangzhou"]
    assert typed["SkuId"].to_list() == [None, "0012"]  # IDs stay text: leading zeros kept
    assert typed["ListUnitPrice"].to_list() == [None, Decimal("0.5")]


def test_decimals_plain_and_e_notation_are_exact(tmp_path):
    text = csv_text(
        [
            {"BilledCost": "1.5E-3"},
            {"BilledCost": "-0.0000000001"},
            {"BilledCost": " 12.50 "},
            {"BilledCost": "1234567890123456789012345678"},
            {"BilledCost": "2E+2"},
        ]
    )
    report, typed, quarantined = convert_text(tmp_path, text)
    assert quarantined.is_empty()
    assert typed["BilledCost"].to_list() == [
        Decimal("0.0015"),
        Decimal("-1E-10"),
        Decimal("12.5"),
        Decimal("1234567890123456789012345678"),
        Decimal("200"),
    ]
    assert typed["x_SourceChanges"][2].to_list().count("BilledCost:whitespace") == 1
    assert only(report)["money"]["CNY"]["BilledCost"]["written"] == "1234567890123456789012345890.5014999999"


@pytest.mark.parametrize(
    "value, reason",
    [
        ("1,234.50", "not a number ('1,234.50')"),
        ("¥12.00", "not a number"),
        ("$5", "not a number"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        ("twelve", "not a number"),
        ("12345678901234567890123456789", "out of range for decimal(38,10)"),
        ("0.12345678901", "more than 10 decimal places"),
        ("1.23456789012E-3", "more than 10 decimal places"),
    ],
)
def test_money_that_is_not_a_number_sends_the_row_to_quarantine(tmp_path, value, reason):
    text = csv_text([{"BilledCost": "1.00"}, {"BilledCost": value, "ResourceId": "r-2"}, {"BilledCost": "2.00"}])
    report, typed, quarantined = convert_text(tmp_path, text)
    assert typed["BilledCost"].to_list() == [Decimal("1"), Decimal("2")]
    [row] = quarantined.to_dicts()
    assert row["x_SourceObject"] == KEY and row["x_SourceLine"] == 3 and row["column"] == "BilledCost"
    assert row["reason"].startswith("BilledCost: " + reason)
    assert row["raw_values"]["BilledCost"] == value and row["raw_values"]["ResourceId"] == "r-2"
    summary = only(report)
    assert summary["rows"] == {"read": 3, "written": 2, "quarantined": 1}
    assert summary["quarantine"]["by_column"] == {"BilledCost": 1}
    assert summary["reconciled"]


def test_rounding_excess_decimals_is_a_switchable_repair(tmp_path):
    settings = TransformSettings(repairs=Repairs(round_excess_decimals=True))
    report, typed, quarantined = convert_text(tmp_path, csv_text([{"BilledCost": "0.12345678905"}]), settings=settings)
    assert quarantined.is_empty() and typed["BilledCost"].to_list() == [Decimal("0.1234567890")]
    assert "BilledCost:rounded" in typed["x_SourceChanges"][0].to_list()
    summary = only(report)  # reconciliation says honestly that rounding changed money
    assert summary["money"]["CNY"]["BilledCost"] == {
        "read": "0.12345678905",
        "written": "0.123456789",
        "quarantined": "0",
    }
    assert not summary["reconciled"]


def test_timestamp_formats_and_the_last_eight_hours_of_a_utc8_month(tmp_path):
    rows = [
        {"ChargePeriodStart": "2026-01-31 16:00:00", "ChargePeriodEnd": "2026-01-31T17:00:00"},
        {"ChargePeriodStart": "2026-01-31T23:00:00+08:00", "ChargePeriodEnd": "2026-01-31T16:00:00Z"},
        {"ChargePeriodStart": "2026-01-31 23:59:59", "ChargePeriodEnd": "2026-02-01 00:00:00"},
    ]
    _, typed, quarantined = convert_text(tmp_path, csv_text(rows))
    assert quarantined.is_empty()
    assert typed["ChargePeriodStart"].to_list() == [
        datetime(2026, 1, 31, 8, tzinfo=UTC),
        datetime(2026, 1, 31, 15, tzinfo=UTC),
        datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC),
    ]
    assert typed["ChargePeriodEnd"].to_list() == [
        datetime(2026, 1, 31, 9, tzinfo=UTC),
        datetime(2026, 1, 31, 16, tzinfo=UTC),
        datetime(2026, 1, 31, 16, tzinfo=UTC),
    ]
    assert typed["BillingPeriodEnd"].to_list() == [datetime(2026, 1, 31, 16, tzinfo=UTC)] * 3
    assert "ChargePeriodStart:from_Asia/Shanghai" in typed["x_SourceChanges"][0].to_list()
    assert "ChargePeriodStart:from_Asia/Shanghai" not in typed["x_SourceChanges"][1].to_list()


def test_the_billing_month_of_a_key_without_one_is_read_in_the_source_timezone(tmp_path):
    """February 2026 in UTC+8 starts on 31 January 16:00 UTC: the rows belong to 202602."""
    text = csv_text(
        [
            {
                "BillingPeriodStart": "2026-02-01 00:00:00",
                "BillingPeriodEnd": "2026-03-01 00:00:00",
                "ChargePeriodStart": "2026-02-01 00:00:00",
                "ChargePeriodEnd": "2026-02-01 01:00:00",
            }
        ]
    )
    report, typed, _ = convert_text(tmp_path, text, key="loose/bill.csv", batch_ts="20260202T080000")
    assert typed["BillingPeriodStart"].to_list() == [datetime(2026, 1, 31, 16, tzinfo=UTC)]
    assert only(report)["yearmonth"] == "202602"
    assert report.members[0].output.parent.as_posix().endswith("yearmonth=202602/batch_ts=20260202T080000")


def test_the_source_timezone_is_configurable(tmp_path):
    settings = TransformSettings(source_timezone="UTC", derivations=NO_DERIVATIONS)
    _, typed, _ = convert_text(tmp_path, csv_text([{}]), settings=settings)
    assert typed["ChargePeriodStart"].to_list() == [datetime(2026, 1, 5, tzinfo=UTC)]
    assert typed["x_SourceChanges"][0].to_list() == []  # reading as UTC changes nothing


@pytest.mark.parametrize("column", ["ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd"])
def test_an_unparseable_period_timestamp_sends_the_row_to_quarantine(tmp_path, column):
    report, typed, quarantined = convert_text(tmp_path, csv_text([{}, {column: "31/01/2026 25:00"}]))
    assert typed.height == 1
    assert quarantined["reason"].to_list() == [f"{column}: unparseable timestamp ('31/01/2026 25:00')"]
    assert quarantined["x_SourceLine"].to_list() == [3]


def test_tags_become_a_map_and_promoted_tags_match_keys_case_insensitively(tmp_path):
    rows = [
        {"Tags": '{"Brand":"acme","project":"atlas","COSTCENTER":1001,"spot":true,"owner":null}'},
        {"Tags": '{"brand":"nova","Environment":"prod","说明":"生产"}'},
        {"Tags": "{}"},
        {"Tags": ""},
    ]
    _, typed, quarantined = convert_text(tmp_path, csv_text(rows))
    assert quarantined.is_empty()
    assert typed["Tags"].to_list() == [
        {"Brand": "acme", "project": "atlas", "COSTCENTER": "1001", "spot": "true", "owner": None},
        {"brand": "nova", "Environment": "prod", "说明": "生产"},
        {},
        None,
    ]
    assert typed["x_TagBrand"].to_list() == ["acme", "nova", None, None]
    assert typed["x_TagProject"].to_list() == ["atlas", None, None, None]
    assert typed["x_TagCostCenter"].to_list() == ["1001", None, None, None]
    assert typed["x_TagEnvironment"].to_list() == [None, "prod", None, None]
    assert typed["x_TagsError"].to_list() == [None] * 4


def test_an_unparseable_tags_value_never_costs_the_row(tmp_path):
    rows = [
        {"Tags": '{"Brand":"acme"}', "BilledCost": "1"},
        {"Tags": "{Brand: acme", "BilledCost": "2"},
        {"Tags": '["a","b"]', "BilledCost": "3"},
        {"Tags": '{"team":{"name":"x"},"Brand":"nova"}', "BilledCost": "4"},
    ]
    report, typed, quarantined = convert_text(tmp_path, csv_text(rows))
    assert quarantined.is_empty() and typed["BilledCost"].to_list() == [1, 2, 3, 4]
    assert typed["Tags"].to_list()[:3] == [{"Brand": "acme"}, None, None]
    assert typed["Tags"][3] == {"team": '{"name":"x"}', "Brand": "nova"}
    assert typed["x_TagBrand"].to_list() == ["acme", None, None, "nova"]
    assert typed["x_TagsRaw"].to_list() == [None, "{Brand: acme", '["a","b"]', None]
    errors = typed["x_TagsError"].to_list()
    assert errors[0] is None and errors[1].startswith("invalid JSON") and errors[2].startswith("not a JSON object")
    assert "Tags:unparseable" in typed["x_SourceChanges"][1].to_list()
    assert "Tags:nested_values_as_text" in typed["x_SourceChanges"][3].to_list()
    assert only(report)["repairs"]["Tags:unparseable"] == 2


def test_the_first_of_several_case_variants_of_a_promoted_key_wins(tmp_path):
    _, typed, _ = convert_text(tmp_path, csv_text([{"Tags": '{"brand":"first","Brand":"second"}'}]))
    assert typed["x_TagBrand"].to_list() == ["first"]
    assert typed["Tags"].to_list() == [{"brand": "first", "Brand": "second"}]  # the map keeps both


def test_rows_of_another_billing_month_than_their_file_are_counted(tmp_path):
    rows = [{}, {"BillingPeriodStart": "2026-02-01 00:00:00", "BillingPeriodEnd": "2026-03-01 00:00:00"}]
    report, typed, _ = convert_text(tmp_path, csv_text(rows))  # the key says 202601
    assert typed.height == 2 and only(report)["rows_outside_billing_month"] == 1


def test_keeping_rows_with_bad_tags_can_be_switched_off(tmp_path):
    settings = TransformSettings(repairs=Repairs(keep_rows_with_unparseable_tags=False))
    _, typed, quarantined = convert_text(
        tmp_path, csv_text([{"Tags": "{oops"}, {"Tags": '{"a":"b"}'}]), settings=settings
    )
    assert typed.height == 1 and quarantined["column"].to_list() == ["Tags"]


def test_the_promoted_tag_list_is_configurable(tmp_path):
    settings = TransformSettings(promoted_tags=("Team",))
    _, typed, _ = convert_text(tmp_path, csv_text([{"Tags": '{"TEAM":"data","Brand":"acme"}'}]), settings=settings)
    assert typed["x_TagTeam"].to_list() == ["data"] and "x_TagBrand" not in typed.columns


def test_numeric_provider_publisher_and_issuer_references_become_names(tmp_path):
    rows = [
        {"ProviderName": "1001", "PublisherName": "1001", "InvoiceIssuerName": "5010"},
        {"ProviderName": "Alibaba Cloud", "PublisherName": "ISV Ltd", "InvoiceIssuerName": "5020"},
    ]
    settings = TransformSettings(invoice_issuer_names={"5010": "Alibaba Cloud (Singapore) Private Limited"})
    report, typed, _ = convert_text(tmp_path, csv_text(rows), settings=settings)
    assert typed["ProviderName"].to_list() == ["Alibaba Cloud", "Alibaba Cloud"]
    assert typed["PublisherName"].to_list() == ["Alibaba Cloud", "ISV Ltd"]
    assert typed["InvoiceIssuerName"].to_list() == ["Alibaba Cloud (Singapore) Private Limited", "5020"]
    assert typed["x_ProviderNameRaw"].to_list() == ["1001", "Alibaba Cloud"]
    assert typed["x_InvoiceIssuerNameRaw"].to_list() == ["5010", "5020"]
    assert typed["ServiceProviderName"].to_list() == ["Alibaba Cloud", "Alibaba Cloud"]
    assert typed["HostProviderName"].to_list() == ["Alibaba Cloud", "Alibaba Cloud"]
    assert only(report)["repairs"]["ProviderName:mapped"] == 1


def test_repairs_can_be_switched_off(tmp_path):
    settings = TransformSettings(
        repairs=Repairs(
            map_provider_names=False,
            source_timezone_to_utc=False,
            null_literal=False,
            strip_whitespace=False,
            match_column_names_case_insensitively=False,
        ),
        derivations=NO_DERIVATIONS,
    )
    text = csv_text(
        [
            {"ProviderName": "1001", "ServiceName": "NULL", "X_InstanceID": "i-1"},
            {"ProviderName": "1001", "BilledCost": " 1.5"},
        ]
    )
    report, typed, quarantined = convert_text(tmp_path, text, settings=settings)
    assert typed["ProviderName"].to_list() == ["1001"] and typed["ServiceName"].to_list() == ["NULL"]
    assert typed["ChargePeriodStart"].to_list() == [datetime(2026, 1, 5, tzinfo=UTC)]
    assert typed["x_InstanceID"].to_list() == [None] and typed["x_ExtraColumns"][0] == {"X_InstanceID": "i-1"}
    assert typed["x_SourceChanges"].to_list() == [[]]
    assert quarantined["reason"].to_list() == ["BilledCost: not a number (' 1.5')"]


def test_lineage_on_every_row_with_line_numbers_that_count_embedded_line_breaks(tmp_path):
    rows = [
        {"ResourceName": "a"},
        {"ResourceName": "two\nlines"},
        {"ResourceName": "b"},
        {"BilledCost": "bad"},
        {"ResourceName": "c"},
    ]
    settings = TransformSettings(piece_bytes=64)  # many pieces: numbering must carry across them
    _, typed, quarantined = convert_text(tmp_path, csv_text(rows), settings=settings, batch_ts="20260106T080000")
    assert typed["x_SourceLine"].to_list() == [2, 3, 5, 7]
    assert quarantined["x_SourceLine"].to_list() == [6]
    assert typed["x_SourceObject"].unique().to_list() == [KEY]
    assert typed["x_BatchTs"].unique().to_list() == ["20260106T080000"]
    assert typed["x_SourceMember"].to_list() == [None] * 4


def test_blank_lines_are_skipped_and_counted_never_written_as_rows(tmp_path):
    text = csv_text([{"BilledCost": "1"}, {"BilledCost": "2"}])
    lines = text.splitlines(keepends=True)
    text = lines[0] + lines[1] + "\n" + ",,,,,,,\n" + lines[2] + "\n"  # blank, empty fields, trailing blank
    report, typed, quarantined = convert_text(tmp_path, text)
    assert typed["BilledCost"].to_list() == [1, 2] and quarantined.is_empty()
    assert typed["x_SourceLine"].to_list() == [2, 5]
    summary = only(report)
    assert summary["empty_records_skipped"] == 3 and summary["rows"]["read"] == 2 and summary["reconciled"]


def test_zip_members_are_written_separately_and_named_in_lineage(tmp_path):
    key = "focus-export/202601/20260106T080000/1234_26842_BillingItemDetail_202601.zip"
    source = write_export(
        tmp_path / "in.zip",
        [
            ("part_1.csv", csv_text([{"BilledCost": "1"}])),
            ("part_2.csv", csv_text([{"BilledCost": "2"}, {"BilledCost": "3"}])),
        ],
    )
    report = convert_object(source, key, tmp_path / "out")
    typed = read_outputs(report, "output")
    assert [m.member for m in report.members] == ["part_1.csv", "part_2.csv"]
    assert typed["x_SourceMember"].to_list() == ["part_1.csv", "part_2.csv", "part_2.csv"]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.parquet")) == [
        "1234_26842_BillingItemDetail_202601.zip--part_1.csv.parquet",
        "1234_26842_BillingItemDetail_202601.zip--part_2.csv.parquet",
    ]
    assert report.reconciliation.to_dict()["money"]["CNY"]["BilledCost"]["written"] == "6"


def test_output_layout_and_zstd_parquet_readable_by_duckdb(tmp_path):
    report, _, _ = convert_text(tmp_path, csv_text([{"BilledCost": "1.25"}, {"BilledCost": "-0.25"}]))
    output = report.members[0].output
    assert output.relative_to(tmp_path / "out").as_posix() == (
        "focus_alibaba_normalized/yearmonth=202601/batch_ts=20260106T080000/1234_26842_BillingItemDetail_202601.csv.parquet"
    )
    import pyarrow.parquet as pq

    assert pq.ParquetFile(output).metadata.row_group(0).column(0).compression == "ZSTD"
    result = duckdb.sql(f"""
        SELECT yearmonth, batch_ts, sum(BilledCost), typeof(sum(BilledCost))
        FROM read_parquet('{tmp_path / "out"}/focus_alibaba_normalized/**/*.parquet', hive_partitioning = true,
                          hive_types = {{'yearmonth': VARCHAR, 'batch_ts': VARCHAR}})
        GROUP BY ALL""").fetchall()
    assert result == [("202601", "20260106T080000", Decimal("1.0000000000"), "DECIMAL(38,10)")]
    assert not list((tmp_path / "out").rglob("*.staging"))  # nothing half-written left behind


def test_x_source_changes_is_written_as_a_dictionary_and_read_as_a_list_of_strings(tmp_path):
    """The repairs are typed as an Enum for speed; every reader must still see array<string>."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"BilledCost": " 1.25", "ProviderName": "26842"}, {"BilledCost": "2"}, {"BilledCost": "3"}]
    report, typed, _ = convert_text(tmp_path, csv_text(rows), settings=TransformSettings(derivations=NO_DERIVATIONS))
    output = report.members[0].output
    expected = [
        [
            "BilledCost:whitespace",
            "BillingPeriodEnd:from_Asia/Shanghai",
            "BillingPeriodStart:from_Asia/Shanghai",
            "ChargePeriodEnd:from_Asia/Shanghai",
            "ChargePeriodStart:from_Asia/Shanghai",
            "ProviderName:mapped",
        ]
    ]
    expected += [[label for label in expected[0] if "Period" in label]] * 2
    assert typed.schema["x_SourceChanges"] == pl.List(pl.String)  # polars reads text, not an Enum
    assert [sorted(changes) for changes in typed["x_SourceChanges"].to_list()] == expected
    assert pq.read_schema(output).field("x_SourceChanges").type == pa.large_list(pa.large_string())
    assert pq.read_table(output)["x_SourceChanges"].to_pylist() == typed["x_SourceChanges"].to_list()
    assert duckdb.sql(f"SELECT typeof(x_SourceChanges) FROM '{output}' LIMIT 1").fetchall() == [("VARCHAR[]",)]
    metadata = pq.ParquetFile(output).metadata
    [leaf] = [i for i in range(metadata.num_columns) if metadata.schema.column(i).path.startswith("x_SourceChanges.")]
    assert metadata.schema.column(leaf).logical_type.type == "STRING"
    assert "RLE_DICTIONARY" in metadata.row_group(0).column(leaf).encodings


def test_columns_built_from_few_values_are_written_as_dictionaries_and_read_as_text(tmp_path):
    """Names, promoted tags, Tags errors and the source columns are Categoricals in memory for
    speed (normalize.categorical_columns); every reader must still see text, with the same values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"ProviderName": "26842", "PublisherName": "Alibaba Cloud", "Tags": '{"Project": "web"}'},
        {"ProviderName": "Alibaba Cloud", "PublisherName": "Alibaba Cloud", "Tags": "{not json"},
        {"ProviderName": "", "PublisherName": "26842", "Tags": '{"project": "db", "Owner": "ops"}'},
    ]
    settings = TransformSettings(repairs=Repairs(keep_rows_with_unparseable_tags=True))
    report, typed, _ = convert_text(tmp_path, csv_text(rows), settings=settings)
    output = report.members[0].output
    columns = categorical_columns(settings.promoted_tags)
    assert {"ProviderName", "x_ProviderNameRaw", "x_TagProject", "x_TagsError", "x_SourceObject"} <= set(columns)
    file_schema = pq.read_schema(output)
    for name in columns:
        assert file_schema.field(name).type == pa.large_string(), name
        assert typed.schema[name] == pl.String, name
    found = duckdb.sql(f"""SELECT x_ProviderNameRaw, ProviderName, ServiceProviderName, x_PublisherNameRaw, PublisherName,
                                  x_TagProject, x_TagOwner, x_TagsRaw, x_TagsError IS NOT NULL, x_SourceObject, x_BatchTs,
                                  HostProviderName, typeof(ProviderName)
                           FROM '{output}' ORDER BY x_SourceLine""").fetchall()
    assert [row[:9] for row in found] == [
        ("26842", "Alibaba Cloud", "Alibaba Cloud", "Alibaba Cloud", "Alibaba Cloud", "web", None, None, False),
        (
            "Alibaba Cloud",
            "Alibaba Cloud",
            "Alibaba Cloud",
            "Alibaba Cloud",
            "Alibaba Cloud",
            None,
            None,
            "{not json",
            True,
        ),
        (None, None, None, "26842", "Alibaba Cloud", "db", "ops", None, False),
    ]
    assert {row[9:] for row in found} == {(KEY, "20260106T080000", settings.host_provider_name, "VARCHAR")}
    assert pq.read_table(output).select(list(columns)).to_pylist() == typed.select(columns).to_dicts()
    metadata = pq.ParquetFile(output).metadata
    leaves = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    assert all("RLE_DICTIONARY" in metadata.row_group(0).column(leaves[name]).encodings for name in columns)


def test_a_header_only_file_writes_nothing_and_reports_zero_rows(tmp_path):
    convert_text(tmp_path, csv_text([{"BilledCost": "1"}, {"BilledCost": "x"}]))  # an earlier delivery
    report, typed, quarantined = convert_text(tmp_path, csv_text([]))
    assert typed.is_empty() and quarantined.is_empty()
    assert only(report)["rows"] == {"read": 0, "written": 0, "quarantined": 0}
    assert not list((tmp_path / "out").rglob("*.parquet"))  # the same object now empty: nothing stale left


def test_a_record_with_too_many_fields_fails_the_file_naming_its_line(tmp_path):
    text = csv_text([{}]) + "this,record,has,more,fields,than,the,header,has,names,for,them,all\n"
    with pytest.raises(ExportFileError) as caught:
        convert_text(tmp_path, text)
    assert str(caught.value) == f"{KEY}, line 3: record has 13 fields, the header has 8"
    assert not list((tmp_path / "out").rglob("*.parquet")) and not list((tmp_path / "out").rglob("*.staging"))


def test_bytes_that_are_not_utf8_fail_the_file_naming_the_lines(tmp_path):
    text = csv_text([{}, {}]).encode()
    text = text.replace(b"CNY", b"CN\xff", 1).decode("latin-1")  # one bad byte in the first record
    source = tmp_path / "in" / KEY
    source.parent.mkdir(parents=True)
    source.write_bytes(text.encode("latin-1"))
    with pytest.raises(ExportFileError) as caught:
        convert_object(source, KEY, tmp_path / "out")
    message = str(caught.value)
    assert message.startswith(f"{KEY}: unreadable CSV in lines 2-3 (") and "\n" not in message


@pytest.mark.parametrize("piece_bytes", [64, 16 * 1024**2])
def test_a_record_with_too_few_fields_fails_the_file_naming_its_line(tmp_path, piece_bytes):
    """The parser would fill the missing fields with nulls: values lost without a word."""
    text = csv_text([{"Tags": '{"a":"x,y"}'}, {"ResourceName": "two\nlines"}, {}])
    lines = text.splitlines(keepends=True)
    short = ",".join(lines[-1].rstrip("\n").split(",")[:-2]) + "\n"  # the last record loses two fields
    with pytest.raises(ExportFileError) as caught:
        convert_text(tmp_path, "".join(lines[:-1]) + short, settings=TransformSettings(piece_bytes=piece_bytes))
    header_fields = len(lines[0].split(","))
    assert str(caught.value) == f"{KEY}, line 5: record has {header_fields - 2} fields, the header has {header_fields}"


def test_empty_last_fields_in_complete_records_are_fine(tmp_path):
    _, typed, _ = convert_text(tmp_path, csv_text([{"Tags": ""}, {"Tags": '{"a":"x,y"}'}, {"Tags": ""}]))
    assert typed["Tags"].to_list() == [None, {"a": "x,y"}, None]


def test_a_batch_without_any_tags_value(tmp_path):
    _, typed, _ = convert_text(tmp_path, csv_text([{"Tags": ""}, {"Tags": "NULL"}]))
    assert typed["Tags"].to_list() == [None, None] and typed["x_TagBrand"].to_list() == [None, None]


def test_rerunning_replaces_instead_of_duplicating(tmp_path):
    text = csv_text([{"BilledCost": "1"}, {"BilledCost": "x"}])
    convert_text(tmp_path, text)
    report, typed, quarantined = convert_text(tmp_path, text)
    assert typed.height == 1 and quarantined.height == 1
    assert len(list((tmp_path / "out").rglob("*.parquet"))) == 2
    fixed = csv_text([{"BilledCost": "1"}, {"BilledCost": "2"}])
    report, typed, quarantined = convert_text(tmp_path, fixed)  # a corrected re-delivery
    assert typed.height == 2 and quarantined.is_empty()
    assert not list((tmp_path / "out" / "focus_alibaba_quarantine").rglob("*.parquet"))


def test_settings_are_plain_data():
    settings = replace(TransformSettings(), promoted_tags=("A",))
    assert settings.promoted_tags == ("A",) and settings.repairs == Repairs()
