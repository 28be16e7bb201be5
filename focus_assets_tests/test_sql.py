"""The SQL layer: every file parses as Athena SQL, and every view runs on DuckDB over Parquet
from the transform, giving the numbers computed independently from the input CSVs."""

import csv
import json
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import polars as pl
import pytest
import sqlglot
from sqlglot import expressions as exp

from focus_assets.focus import unified
from focus_assets.focus.ddl import GENERATED_FILES
from focus_assets.focus.export_sources import DEFAULT_SOURCE
from focus_assets.focus.schema import DEFAULT_PROMOTED_TAGS, output_columns, unified_columns
from focus_assets.focus.transform import convert_object
from focus_assets.focus.writer import record_delivery
from focus_assets.samples.alibaba import sample_deliveries, write_delivery
from focus_assets.samples.providers import DATACENTER_SAMPLE, PUBLIC_SAMPLE, write_sample_sources
from focus_assets.sql_layer import SQL_DIR, SourceTable, apply_to_duckdb, load_objects, load_query, to_duckdb

from .test_reconciliation import independent_rows

ADAPTER_VIEWS = [
    "focus_source_alibaba",
    "focus_source_aws_focus_1_0",
    "focus_source_aws_focus_1_2",
    "focus_source_google_cloud",
    "focus_source_azure",
    "focus_source_oci",
    "focus_source_datacenter",
]
OBJECTS = {
    **{view: "view" for view in ADAPTER_VIEWS},
    "focus_unified": "view",
    "alibaba_deliveries": "table",
    "focus_alibaba_normalized": "table",
    "alibaba_current_deliveries": "view",
    "alibaba_focus": "view",
    "alibaba_focus_history": "view",
    "alibaba_cost_daily": "view",
    "alibaba_cost_monthly_by_service": "view",
    "alibaba_cost_monthly_by_account": "view",
    "alibaba_cost_monthly_by_region": "view",
    "alibaba_cost_monthly_by_tag": "view",
    "alibaba_untagged_share": "view",
}
MONEY = ["billed_cost", "effective_cost", "list_cost", "line_items"]
VIEW_COLUMNS = {
    "alibaba_current_deliveries": ["source", "yearmonth", "batch_ts"],
    "alibaba_cost_daily": ["charge_date", "BillingCurrency", *MONEY],
    "alibaba_cost_monthly_by_service": ["billing_month", "ServiceCategory", "ServiceName", "BillingCurrency", *MONEY],
    "alibaba_cost_monthly_by_account": [
        "billing_month",
        "export_source",
        "BillingAccountId",
        "BillingAccountName",
        "SubAccountId",
        "SubAccountName",
        "BillingCurrency",
        *MONEY,
    ],
    "alibaba_cost_monthly_by_region": ["billing_month", "RegionId", "RegionName", "BillingCurrency", *MONEY],
    "alibaba_cost_monthly_by_tag": ["billing_month", "tag_key", "tag_value", "BillingCurrency", *MONEY],
    "alibaba_untagged_share": [
        "billing_month",
        "tag_key",
        "BillingCurrency",
        "total_effective_cost",
        "untagged_effective_cost",
        "untagged_share",
    ],
}


def test_every_file_parses_as_athena_sql():
    files = sorted(SQL_DIR.rglob("*.sql"))
    assert len(files) == len(OBJECTS) + 1
    for path in files:
        text = path.read_text().replace("${LAKE_LOCATION}", "s3://bucket/lake")
        assert sqlglot.parse_one(text, read="athena") is not None, path


def test_views_use_trino_type_names_not_hive_ones():
    """Athena DDL takes Hive's type names (string, map<...>); its queries and views take Trino's."""
    for path in sorted((SQL_DIR / "views").glob("*.sql")) + sorted((SQL_DIR / "queries").glob("*.sql")):
        statement = sqlglot.parse_one(path.read_text().replace("${", "x_").replace("}", ""), read="athena")
        for cast in statement.find_all(exp.Cast):
            assert "string" not in cast.sql("athena").lower().split("as ")[-1], (path.name, cast.sql())
        assert "map<" not in path.read_text() and " AS string)" not in path.read_text(), path.name


def test_the_generated_files_match_the_schema_module():
    for path, generate in GENERATED_FILES.items():
        assert path.read_text() == generate(), f"{path} is stale: run python -m focus_assets.focus.ddl"
    for path, text in unified.generated_files().items():
        assert path.read_text() == text, f"{path} is stale: run python -m focus_assets.focus.unified"


def test_the_set_of_objects_is_pinned_and_ordered_by_dependency():
    objects = load_objects()
    assert {o.name: o.kind for o in objects} == OBJECTS
    seen: set[str] = set()
    for obj in objects:
        assert obj.depends_on <= seen, obj.name
        seen.add(obj.name)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """The demo deliveries, transformed and published (ledger row last), plus one delivery that
    is written but not published."""
    root = tmp_path_factory.mktemp("sql")
    deliveries = sample_deliveries()
    for delivery in deliveries:
        path = write_delivery(root / "oss", delivery)
        report = convert_object(path, delivery.key, root / "lake").reconciliation
        record_delivery(
            root / "lake",
            DEFAULT_SOURCE,
            delivery.billing_month,
            delivery.batch_ts,
            1,
            report.rows_written,
            report.rows_quarantined,
        )
    unpublished = deliveries[-1].__class__(
        deliveries[-1].key.replace("T080000", "T090000"), "202601", "20260105T090000", 4
    )
    convert_object(write_delivery(root / "oss", unpublished), unpublished.key, root / "lake")
    connection = duckdb.connect(str(root / "warehouse.duckdb"))
    apply_to_duckdb(connection, root / "lake")
    return root, deliveries, connection


def test_view_columns_are_pinned(lake):
    _, _, connection = lake
    for view, columns in VIEW_COLUMNS.items():
        assert [r[0] for r in connection.execute(f"DESCRIBE {view}").fetchall()] == columns, view
    focus_columns = [r[0] for r in connection.execute("DESCRIBE alibaba_focus").fetchall()]
    assert focus_columns == [c.name for c in output_columns()] + ["yearmonth", "batch_ts"]


def test_the_current_view_reads_one_delivery_per_month_the_latest_published(lake):
    _, _, connection = lake
    counts = connection.execute(
        "SELECT yearmonth, batch_ts, count(*) FROM alibaba_focus GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    # 20260105T090000 is written but has no ledger row: not published, not visible
    assert counts == [("202512", "20260103T100000", 1860), ("202601", "20260105T080000", 240)]
    history = connection.execute("SELECT count(DISTINCT batch_ts) FROM alibaba_focus_history").fetchall()
    assert history == [(5,)]


def latest_rows(lake) -> list[dict]:
    root, deliveries, _ = lake
    latest = {}
    for delivery in deliveries:
        if delivery.batch_ts > latest.get(delivery.billing_month, ("", None))[0]:
            latest[delivery.billing_month] = (delivery.batch_ts, delivery)
    rows = []
    for month, (_, delivery) in latest.items():
        rows.extend({**r, "billing_month": month} for r in independent_rows(root / "oss" / delivery.key))
    return rows


def sums(rows: list[dict], *keys: str) -> dict:
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0), 0])
    for row in rows:
        bucket = out[tuple(row[k] or None for k in keys)]
        for i, column in enumerate(("BilledCost", "EffectiveCost", "ListCost")):
            bucket[i] += Decimal(row[column])
        bucket[3] += 1
    return {k: tuple(v) for k, v in out.items()}


def view_sums(connection, view: str, *keys: str) -> dict:
    rows = connection.execute(f"SELECT {', '.join(keys)}, {', '.join(MONEY)} FROM {view}").fetchall()
    return {tuple(r[: len(keys)]): tuple(r[len(keys) :]) for r in rows}


@pytest.mark.parametrize(
    "view, keys, csv_keys",
    [
        (
            "alibaba_cost_monthly_by_service",
            ("billing_month", "ServiceName", "BillingCurrency"),
            ("billing_month", "ServiceName", "BillingCurrency"),
        ),
        (
            "alibaba_cost_monthly_by_account",
            ("billing_month", "BillingAccountId", "SubAccountId", "BillingCurrency"),
            ("billing_month", "BillingAccountId", "SubAccountId", "BillingCurrency"),
        ),
        (
            "alibaba_cost_monthly_by_region",
            ("billing_month", "RegionId", "BillingCurrency"),
            ("billing_month", "RegionId", "BillingCurrency"),
        ),
    ],
)
def test_monthly_views_match_the_latest_csvs_to_the_cent(lake, view, keys, csv_keys):
    expected = sums(latest_rows(lake), *csv_keys)
    assert view_sums(lake[2], view, *keys) == expected


def test_daily_cost_matches_with_charge_days_in_utc(lake):
    rows = latest_rows(lake)
    for row in rows:  # UTC+8 midnight is 16:00 UTC the day before
        day = int(row["ChargePeriodStart"][8:10]) - 1
        row["charge_day"] = f"{row['ChargePeriodStart'][:8]}{day:02d}" if day else None
    expected = {}
    for key, value in sums(rows, "charge_day", "BillingCurrency").items():
        if key[0] is None:  # the 1st of a month (UTC+8) is the last day of the previous month in UTC
            continue
        expected[key] = value
    actual = {
        (str(k[0]), k[1]): v
        for k, v in view_sums(lake[2], "alibaba_cost_daily", "charge_date", "BillingCurrency").items()
    }
    for key, value in expected.items():
        assert actual[key] == value, key
    total = sum(v[0] for v in actual.values())
    assert total == sum(v[0] for v in sums(rows, "BillingCurrency").values())  # nothing lost across days


def promoted(tags_text: str | None, tag: str) -> str | None:
    tags = json.loads(tags_text) if tags_text else {}
    return next(
        (str(v).lower() if isinstance(v, bool) else str(v) for k, v in tags.items() if k.lower() == tag.lower()), None
    )


def test_tag_views_match_the_csvs_and_the_untagged_share_is_the_untagged_cost(lake):
    rows = latest_rows(lake)
    connection = lake[2]
    actual = view_sums(
        connection, "alibaba_cost_monthly_by_tag", "billing_month", "tag_key", "tag_value", "BillingCurrency"
    )
    for tag in DEFAULT_PROMOTED_TAGS:
        for row in rows:
            row["tag_key"], row["tag_value"] = tag, promoted(row["Tags"], tag)
        expected = sums(rows, "billing_month", "tag_key", "tag_value", "BillingCurrency")
        assert {k: v for k, v in actual.items() if k[1] == tag} == expected, tag
    shares = connection.execute(
        "SELECT billing_month, tag_key, BillingCurrency, total_effective_cost, untagged_effective_cost, untagged_share "
        "FROM alibaba_untagged_share"
    ).fetchall()
    assert len(shares) == 2 * 2 * len(DEFAULT_PROMOTED_TAGS)  # months x currencies x tags
    for month, tag, currency, total, untagged, share in shares:
        assert untagged == actual.get((month, tag, None, currency), (0, 0, 0, 0))[1]
        assert total == sum(v[1] for k, v in actual.items() if (k[0], k[1], k[3]) == (month, tag, currency))
        assert share == pytest.approx(float(untagged) / float(total))


def test_a_month_as_of_a_given_delivery(lake):
    connection = lake[2]
    query = to_duckdb(load_query("alibaba_focus_as_of"))
    as_of = connection.execute(
        f"SELECT yearmonth, batch_ts, count(*) FROM ({query}) GROUP BY ALL ORDER BY ALL", ["20260103T235959"]
    ).fetchall()
    assert as_of == [("202512", "20260103T100000", 1860), ("202601", "20260103T060000", 120)]
    before_december_final = connection.execute(
        f"SELECT yearmonth, batch_ts FROM ({query}) GROUP BY ALL ORDER BY ALL", ["20260102T120000"]
    ).fetchall()
    assert before_december_final == [("202601", "20260102T050000")]


def test_an_empty_lake_gives_empty_typed_views(tmp_path):
    connection = duckdb.connect()
    apply_to_duckdb(connection, tmp_path)
    assert connection.execute("SELECT count(*) FROM alibaba_focus").fetchall() == [(0,)]
    types = dict(connection.execute("DESCRIBE alibaba_focus").fetchall()[i][:2] for i in range(3))
    assert types["BilledCost"] == "DECIMAL(38,10)"


# --- the cross-provider view ----------------------------------------------------------------


def provider_sums(rows: list[dict]) -> dict:
    """Per currency: (BilledCost, EffectiveCost, rows), from text as delivered (NULL/empty: none)."""
    out: dict = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for row in rows:
        bucket = out[row["BillingCurrency"]]
        for i, column in enumerate(("BilledCost", "EffectiveCost")):
            if row[column] not in ("", "NULL", None):
                bucket[i] += Decimal(row[column])
        bucket[2] += 1
    return {k: tuple(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def unified_lake(lake, tmp_path_factory):
    root, _, _ = lake
    sources = write_sample_sources(tmp_path_factory.mktemp("sources"))
    connection = duckdb.connect()
    apply_to_duckdb(connection, root / "lake", sources)
    return connection, sources


def test_the_unified_view_totals_per_provider_and_currency_match_the_inputs(lake, unified_lake):
    connection, _ = unified_lake
    actual = {
        (provider, currency): (billed, effective, rows)
        for provider, currency, billed, effective, rows in connection.execute(
            "SELECT x_SourceProvider, BillingCurrency, sum(BilledCost), sum(EffectiveCost), count(*) "
            "FROM focus_unified GROUP BY ALL"
        ).fetchall()
    }
    sample = list(csv.DictReader(open(PUBLIC_SAMPLE, newline="")))
    expected = {}
    for provider, source_provider in (("AWS", "AWS"), ("Microsoft", "Microsoft"), ("Oracle", "Oracle")):
        for currency, sums_ in provider_sums([r for r in sample if r["ProviderName"] == provider]).items():
            expected[(source_provider, currency)] = sums_
    for currency, sums_ in provider_sums(list(csv.DictReader(open(DATACENTER_SAMPLE, newline="")))).items():
        expected[("Datacenter", currency)] = sums_
    for currency, sums_ in provider_sums(latest_rows(lake)).items():
        expected[("Alibaba Cloud", currency)] = sums_
    assert actual == expected


def test_unified_columns_and_typed_nulls(unified_lake):
    connection, _ = unified_lake
    described = connection.execute("DESCRIBE focus_unified").fetchall()
    assert [r[0] for r in described] == [c.name for c in unified_columns()]
    types = {r[0]: r[1] for r in described}
    assert types["BilledCost"] == "DECIMAL(38,15)" and types["Tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["ChargePeriodStart"] == "TIMESTAMP"
    alibaba = connection.execute(
        "SELECT count(*), count(ContractedCost), count(PricingQuantity), count(CapacityReservationId), "
        "count(ServiceProviderName) FROM focus_unified WHERE x_SourceProvider = 'Alibaba Cloud'"
    ).fetchall()[0]
    assert alibaba[1] == alibaba[3] == 0 and alibaba[4] == alibaba[0]  # Alibaba leaves ContractedCost null
    datacenter_tags = connection.execute(
        "SELECT x_TagBrand, x_TagProject, count(*) FROM focus_unified WHERE x_SourceProvider = 'Datacenter' "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert datacenter_tags == [("acme", "atlas", 2), ("acme", "hermes", 1), ("nova", "orion", 1), (None, None, 2)]


def test_an_unconfigured_source_is_left_out_of_the_union(lake):
    connection = duckdb.connect()
    created = apply_to_duckdb(connection, lake[0] / "lake")
    assert "focus_source_azure" not in created and "focus_unified" in created
    assert connection.execute("SELECT DISTINCT x_SourceProvider FROM focus_unified").fetchall() == [("Alibaba Cloud",)]


def test_google_cloud_key_value_tags_and_an_aws_focus_1_2_export(lake, tmp_path):
    """Google Cloud's tags arrive as a repeated {key, value} struct; the AWS FOCUS 1.2 export
    carries 1.2 columns (synthetic rows, shaped like those exports)."""
    base = {
        "BilledCost": [Decimal("1.5"), Decimal("2.25")],
        "EffectiveCost": [Decimal("1.5"), Decimal("2")],
        "BillingCurrency": ["USD", "USD"],
        "ProviderName": ["Google Cloud", "AWS"],
        "ChargePeriodStart": [datetime(2026, 1, 5, tzinfo=UTC)] * 2,
    }
    gcp = pl.DataFrame(
        {
            **{k: v[:1] for k, v in base.items()},
            "Tags": [[{"key": "Brand", "value": "acme"}, {"key": "env", "value": "prod"}]],
        }
    )
    aws = pl.DataFrame(
        {
            **{k: v[1:] for k, v in base.items()},
            "Tags": [{"Brand": "nova"}],
            "ServiceSubcategory": ["Virtual Machines"],
            "InvoiceId": ["INV-1"],
        },
        schema_overrides={"Tags": pl.Map(pl.String, pl.String)},
    )
    gcp.write_parquet(tmp_path / "gcp.parquet")
    aws.write_parquet(tmp_path / "aws12.parquet")
    connection = duckdb.connect()
    # the adapters select every column of their FOCUS version: add the ones these frames lack
    for name, frame, columns in (("gcp_focus", gcp, unified.FOCUS_1_0), ("aws12_focus", aws, unified.FOCUS_1_2)):
        missing = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in sorted(columns - set(frame.columns)))
        file = tmp_path / ("gcp.parquet" if name == "gcp_focus" else "aws12.parquet")
        connection.execute(f"CREATE VIEW {name} AS SELECT *, {missing} FROM read_parquet('{file}')")
    apply_to_duckdb(
        connection,
        lake[0] / "lake",
        {"google_cloud": SourceTable("gcp_focus"), "aws_focus_1_2": SourceTable("aws12_focus")},
    )
    rows = connection.execute(
        "SELECT x_SourceProvider, BilledCost, x_TagBrand, Tags['env'], ServiceSubcategory, InvoiceId "
        "FROM focus_unified WHERE x_SourceProvider <> 'Alibaba Cloud' ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("AWS", Decimal("2.25"), "nova", None, "Virtual Machines", "INV-1"),
        ("Google Cloud", Decimal("1.5"), "acme", "prod", None, None),
    ]


def test_a_lake_from_before_export_sources_reads_as_the_default_source(tmp_path):
    """Typed files without x_ExportSource and ledger files without `source` (written before export
    sources existed) are the default source's: the views read them, and a newer delivery of the
    same month written since replaces them (no double count across the upgrade)."""
    deliveries = [d for d in sample_deliveries() if d.billing_month == "202601"]
    older, newer = deliveries[-2], deliveries[-1]
    lake = tmp_path / "lake"
    for delivery in (older, newer):
        path = write_delivery(tmp_path / "oss", delivery)
        report = convert_object(path, delivery.key, lake).reconciliation
        record_delivery(lake, DEFAULT_SOURCE, "202601", delivery.batch_ts, 1, report.rows_written, 0)
    for file in [*lake.rglob(f"*{older.batch_ts}*.parquet"), *lake.glob(f"**/batch_ts={older.batch_ts}/*.parquet")]:
        frame = pl.read_parquet(file)
        frame.drop([c for c in ("source", "x_ExportSource") if c in frame.columns]).write_parquet(file)
    assert all("x_ExportSource" not in pl.read_parquet_schema(f) for f in lake.glob("**/batch_ts=2026010[0-4]*/*"))

    def billed(connection, sql: str) -> list[tuple]:
        return connection.execute(sql).fetchall()

    expected_new = sum(Decimal(r["BilledCost"]) for r in independent_rows(tmp_path / "oss" / newer.key))
    expected_old = sum(Decimal(r["BilledCost"]) for r in independent_rows(tmp_path / "oss" / older.key))
    with duckdb.connect(str(tmp_path / "both.duckdb")) as connection:
        apply_to_duckdb(connection, lake)
        assert billed(connection, "SELECT source, yearmonth, batch_ts FROM alibaba_current_deliveries") == [
            ("default", "202601", newer.batch_ts)
        ]
        assert billed(connection, "SELECT sum(BilledCost) FROM alibaba_focus") == [(expected_new,)]
        assert billed(
            connection, "SELECT DISTINCT x_ExportSource FROM focus_unified WHERE x_SourceProvider = 'Alibaba Cloud'"
        ) == [("default",)]
    # Only the old delivery published: the views show it, as the default source's.
    (lake / "alibaba_deliveries" / f"202601_{newer.batch_ts}.parquet").unlink()
    with duckdb.connect(str(tmp_path / "old.duckdb")) as connection:
        apply_to_duckdb(connection, lake)
        assert billed(connection, "SELECT sum(BilledCost), count(x_ExportSource) FROM alibaba_focus") == [
            (expected_old, 0)
        ]
        assert billed(connection, "SELECT DISTINCT export_source FROM alibaba_cost_monthly_by_account") == [
            ("default",)
        ]
