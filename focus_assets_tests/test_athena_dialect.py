"""Everything the `aws` deployment sends to Athena is Athena (engine version 3, Trino) SQL.

moto runs no SQL, so the moto tests alone would pass DuckDB-only text that fails on AWS every day:
`provider_views` and `unified_focus_view` once sent `GROUP BY ALL ORDER BY ALL`. The checker
(athena_sql.py) parses with sqlfluff's `athena` dialect and adds the rules sqlfluff lacks; it runs
on every query that reaches moto's Athena in any test (local_aws.aws_and_oss), and here on every
file of sql/ and every query the product sends through `Warehouse.query`. Queries are one text in
Athena SQL: the DuckDB warehouse transpiles them (sql_layer.to_duckdb).
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_resources
from focus_assets.focus.ddl import LOCATION_PLACEHOLDER
from focus_assets.focus.unified import ADAPTERS
from focus_assets.reporting.assets import cost_report
from focus_assets.resources.athena import AthenaQueries
from focus_assets.resources.warehouse import DuckDBWarehouse
from focus_assets.samples.alibaba import sample_deliveries, write_delivery
from focus_assets.sql_layer import SourceTable, configured_sql, load_objects

from .athena_sql import (
    ATHENA_FUNCTIONS,
    ATHENA_TYPES,
    DUCKDB_FUNCTIONS,
    SYNTAX_CALLS,
    assert_athena_sql,
    athena_problems,
    sqlfluff_athena,
)
from .local_aws import aws_and_oss

ROOT = Path(__file__).resolve().parents[1]

# The two statements provider_views and unified_focus_view sent until issue 21, as they were.
OLD_VIEW_QUERIES = [
    "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY ALL ORDER BY ALL",
    "SELECT x_SourceProvider, BillingCurrency, sum(BilledCost) FROM focus_unified GROUP BY ALL ORDER BY ALL",
]


@pytest.mark.parametrize("sql", OLD_VIEW_QUERIES)
def test_the_view_assets_old_queries_are_refused(sql):
    problems = athena_problems(sql)
    assert "GROUP BY ALL without grouping elements is DuckDB's: write GROUP BY 1, 2, ..." in problems
    assert "ORDER BY ALL is DuckDB's (Trino sorts by expressions): write ORDER BY 1, 2, ..." in problems
    assert athena_problems(sql.replace("GROUP BY ALL ORDER BY ALL", "GROUP BY 1, 2 ORDER BY 1, 2")) == ()


# DuckDB SQL that Trino's grammar or function list refuses, and what the checker says about it.
DUCKDB_ONLY = [
    ("SELECT a FROM t GROUP BY ALL", "GROUP BY ALL without grouping elements"),
    ("SELECT a, count(*) FROM t GROUP BY ALL HAVING count(*) > 1", "GROUP BY ALL without grouping elements"),
    ("SELECT a FROM t ORDER BY ALL DESC", "ORDER BY ALL is DuckDB's"),
    ("SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1", "QUALIFY is DuckDB's"),
    ("SELECT a::integer FROM t", "`::` casts are DuckDB's"),
    ("SELECT a FROM t WHERE a ILIKE 'x%'", "ILIKE is DuckDB's"),
    ("SELECT [1, 2] FROM t", "DuckDB's list literal"),
    ("SELECT CAST(a AS integer[]) FROM t", "DuckDB's list literal or array type"),
    ("SELECT {'a': 1} FROM t", "DuckDB's struct literal"),
    ("SELECT DISTINCT ON (a) a, b FROM t", "DISTINCT ON is DuckDB's"),
    ("SELECT a, b, FROM t", "a comma after the last column"),
    ("SELECT unnest(tags) FROM t", "unnest() in the select list"),
    ("SELECT `a` FROM t", "backquoted identifier"),
    ("CREATE VIEW IF NOT EXISTS v AS SELECT a FROM t", "CREATE VIEW IF NOT EXISTS is DuckDB's"),
    ("SELECT strftime(ts, '%Y-%m') FROM t", "strftime() is DuckDB's"),
    ("SELECT epoch_ms(1767225600000) FROM t", "epoch_ms() is DuckDB's"),
    ("SELECT * FROM read_parquet('lake/*.parquet')", "read_parquet() is DuckDB's"),
    ("SELECT list_sort(a) FROM t", "list_sort() is DuckDB's"),
    ("SELECT list(a ORDER BY a) FROM t", "list() is DuckDB's"),
    ("SELECT string_agg(a, ',') FROM t", "string_agg() is DuckDB's"),
    ("SELECT COLUMNS('Billed.*') FROM t", "columns() is DuckDB's"),
    ("SELECT array_to_string(a, ',') FROM t", "array_to_string() is not a function of Athena"),
    ("SELECT CAST(a AS string) FROM t", "type string is not one of Athena's query types: write varchar"),
    ("SELECT CAST(a AS struct<x: int>) FROM t", "type struct<x: int> is not one of Athena's query types"),
    ("SELECT 1; SELECT 2", "2 statements: Athena runs one per query"),
    ("", "0 statements"),
    # refused by sqlfluff's grammar already
    ("SELECT struct_pack(a := 1) FROM t", "sqlfluff (athena)"),
    ("SELECT * EXCLUDE (a) FROM t", "sqlfluff (athena)"),
    ("FROM t SELECT a", "sqlfluff (athena)"),
    ("SELECT * FROM t USING SAMPLE 10%", "sqlfluff (athena)"),
    ("SELECT CAST(a AS hugeint) FROM t", "sqlfluff (athena)"),
    ("SELECT 2 ** 3, 7 // 2 FROM t", "sqlfluff (athena)"),
    ("SELECT a FROM t WHERE a == 1", "sqlfluff (athena)"),
    ("SELECT a FROM t WHERE b = $1", "sqlfluff (athena)"),
    ("PIVOT t ON a USING sum(b)", "sqlfluff (athena)"),
]


@pytest.mark.parametrize("sql, problem", DUCKDB_ONLY)
def test_duckdb_only_sql_is_refused_with_what_to_write(sql, problem):
    problems = athena_problems(sql)
    assert any(problem in p for p in problems), problems


# Athena SQL of the kinds the views, the report and the docs use: none may be refused.
ATHENA_SQL = [
    "SELECT yearmonth, BillingCurrency, sum(BilledCost) FROM alibaba_focus GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT a, b, count(*) FROM t GROUP BY ROLLUP (a, b)",
    "SELECT ARRAY[1, 2][1], tags['Brand'], element_at(tags, 'Brand'), cardinality(map_keys(tags)) FROM t",
    "SELECT CAST(a AS decimal(38,15)), TRY_CAST(b AS timestamp(3) with time zone), CAST(c AS map(varchar, varchar)), "
    "CAST(d AS array(varchar)), CAST(e AS date), CAST(NULL AS varchar), "
    "CAST(ROW(1, 2.0) AS ROW(x bigint, y double)) FROM t",
    "SELECT ts AT TIME ZONE 'Asia/Shanghai', date_trunc('month', ts), date_format(ts, '%Y-%m'), "
    "from_iso8601_timestamp(s), year(ts + INTERVAL '15' DAY) * 100 + month(ts), current_date FROM t",
    "SELECT json_extract_scalar(j, '$.a'), CAST(json_parse(j) AS map(varchar, varchar)), "
    "transform(a, x -> x + 1), map_from_entries(e) FROM t",
    "SELECT if(a > 0, a, 0), coalesce(a, 0), nullif(a, 0), try(a / b), CASE WHEN a IS NULL THEN 1 ELSE 0 END FROM t",
    "SELECT row_number() OVER (PARTITION BY a ORDER BY b DESC), listagg(c, ',') WITHIN GROUP (ORDER BY c) FROM t",
    "SELECT array_sort(array_agg(DISTINCT BillingCurrency)) FROM t",
    "SELECT x FROM t CROSS JOIN UNNEST(arr) AS u(x) WHERE batch_ts <= ?",
    "SELECT DECIMAL '0.12', TIMESTAMP '2026-01-05 08:00:00', DATE '2026-01-05' FROM t TABLESAMPLE BERNOULLI (10)",
    "-- GROUP BY ALL ORDER BY ALL, in a comment\nSELECT 'GROUP BY ALL ORDER BY ALL' AS \"qualify\" FROM t",
    "CREATE OR REPLACE VIEW v AS WITH c AS (SELECT a FROM t) SELECT * FROM c",
    "ALTER TABLE focus_alibaba_normalized ADD IF NOT EXISTS PARTITION (yearmonth = '202601', batch_ts = "
    "'20260105T080000') LOCATION 's3://focus-lake/lake/focus_alibaba_normalized/'",
    "CREATE EXTERNAL TABLE IF NOT EXISTS t (a string, b array<string>) PARTITIONED BY (yearmonth string) "
    "STORED AS PARQUET LOCATION 's3://focus-lake/t/' TBLPROPERTIES ('parquet.compression' = 'ZSTD')",
]


@pytest.mark.parametrize("sql", ATHENA_SQL)
def test_athena_sql_is_accepted(sql):
    assert athena_problems(sql) == ()


def test_the_function_list_is_trinos_and_names_no_duckdb_only_function():
    """The denylist is checked against Trino's documentation: none of its names is in Trino's list,
    and the functions the views and the report use are."""
    assert len(ATHENA_FUNCTIONS) > 400
    assert {
        "element_at",
        "date_trunc",
        "json_extract_scalar",
        "json_parse",
        "map_from_entries",
        "array_agg",
        "nullif",
        "coalesce",
        "if",
        "try",
        "cast",
        "try_cast",
        "year",
        "month",
        "sum",
        "count",
        "max",
    } <= ATHENA_FUNCTIONS
    assert not set(DUCKDB_FUNCTIONS) & ATHENA_FUNCTIONS
    assert not SYNTAX_CALLS & ATHENA_FUNCTIONS  # syntax, not functions (SqlBase.g4)
    assert {"varchar", "decimal", "timestamp", "map", "array", "row", "double", "bigint"} <= ATHENA_TYPES
    assert not {"string", "text", "struct", "hugeint", "list"} & ATHENA_TYPES


def test_sqlfluff_is_the_pinned_version_and_its_parquet_error_is_still_there():
    """The checker corrects one error of sqlfluff's athena grammar (STORED AS PARQUET). When a new
    sqlfluff no longer has it, this fails: drop the correction in athena_sql.py."""
    pinned = re.search(r'"sqlfluff==([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert version("sqlfluff") == pinned
    ddl = "CREATE EXTERNAL TABLE t (a string) STORED AS PARQUET LOCATION 's3://b/t/'"
    assert sqlfluff_athena(corrected=False).parse_string(ddl).violations
    assert not sqlfluff_athena().parse_string(ddl).violations


def _sql_files() -> list[tuple[str, str]]:
    """(name, text as Athena receives it) of every file of sql/: tables with the lake's location,
    views for every source configured and for none (the adapters and focus_unified differ), the
    queries as they are."""
    every = {a.name: SourceTable(f"{a.name}_export") for a in ADAPTERS if a.table is None}
    texts = []
    for obj in load_objects():
        if obj.kind == "table":
            texts.append((obj.path.name, obj.text.replace(LOCATION_PLACEHOLDER, "s3://focus-lake/lake")))
            continue
        for label, sources in (("every source", every), ("no other source", {})):
            text = configured_sql(obj, sources)
            if text is not None:
                texts.append((f"{obj.path.name}, {label}", text))
    texts += [(path.name, path.read_text()) for path in sorted((ROOT / "sql" / "queries").glob("*.sql"))]
    return texts


SQL_FILES = _sql_files()


def test_every_file_of_sql_is_checked():
    files = {p.name for p in (ROOT / "sql").rglob("*.sql")}
    assert files and {name.split(",")[0] for name, _ in SQL_FILES} == files


@pytest.mark.parametrize("name, text", SQL_FILES, ids=[name for name, _ in SQL_FILES])
def test_a_file_of_sql_is_athena_sql(name, text):
    assert_athena_sql([text], name)


def test_every_query_the_product_sends_through_the_warehouse_is_athena_sql(tmp_path, monkeypatch):
    """A day of the local deployment and the cost report, recording what reaches Warehouse.query
    (the real DuckDB query runs; AthenaWarehouse.query sends the same text to Athena)."""
    sent = []
    run_on_duckdb = DuckDBWarehouse.query

    def recorded(self, sql, parameters=None):
        sent.append(sql)
        return run_on_duckdb(self, sql, parameters)

    monkeypatch.setattr(DuckDBWarehouse, "query", recorded)
    for delivery in sample_deliveries():
        write_delivery(tmp_path / "oss", delivery)
    resources = local_resources(tmp_path)
    assert dg.materialize(ASSETS, partition_key="2026-01-05", resources=resources).success
    assert dg.materialize([cost_report], resources=resources).success
    # the view assets' summaries and the report's sections (tags and daily cost need a month)
    for reads in (
        "FROM alibaba_focus ",
        "FROM focus_unified",
        "FROM alibaba_cost_monthly_by_tag",
        "FROM alibaba_cost_daily",
    ):
        assert any(reads in sql for sql in sent), reads
    assert_athena_sql(sent, "Warehouse.query")


def test_the_duckdb_warehouse_takes_athena_sql(tmp_path):
    """Warehouse.query takes Athena SQL on both engines: DuckDB gets it transpiled."""
    database = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(database)).close()
    warehouse = DuckDBWarehouse(database=str(database), lake_root=str(tmp_path))
    athena = (
        "SELECT date_format(from_iso8601_timestamp('2026-01-05T08:00:00Z'), '%Y-%m'), "
        "json_extract_scalar('{\"a\": \"b\"}', '$.a')"
    )
    with pytest.raises(duckdb.CatalogException):  # as it is, not DuckDB's
        duckdb.connect().execute(athena)
    assert warehouse.query(athena) == [("2026-01", "b")]
    assert warehouse.query("SELECT CAST(? AS varchar) || '!'", ["ok"]) == [("ok!",)]


def test_a_query_that_is_not_athena_sql_fails_any_moto_test(monkeypatch):
    """The check on leaving local_aws.aws_and_oss, with the real client: moto itself reports the
    old query as succeeded."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(AssertionError, match=r"(?s)sent to Athena on moto.*GROUP BY ALL without grouping elements"):
        with aws_and_oss() as (endpoint, _):
            athena = AthenaQueries(
                region_name="us-east-1",
                database="focus",
                output_location="s3://focus-results/",
                endpoint_url=endpoint,
                poll_seconds=0.01,
            )
            athena.run("SELECT 1")
            athena.run(OLD_VIEW_QUERIES[0])  # moto: SUCCEEDED
    with aws_and_oss() as (endpoint, _):  # valid SQL leaves quietly
        athena = AthenaQueries(
            region_name="us-east-1",
            database="focus",
            output_location="s3://focus-results/",
            endpoint_url=endpoint,
            poll_seconds=0.01,
        )
        athena.run(OLD_VIEW_QUERIES[0].replace("GROUP BY ALL ORDER BY ALL", "GROUP BY 1, 2 ORDER BY 1, 2"))
