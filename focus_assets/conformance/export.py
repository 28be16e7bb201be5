"""Warehouse views as the Parquet files the validator reads: one file per view, read from a DuckDB
warehouse (the embedded default; the Athena warehouse is not supported here).

Types are kept (decimals stay decimals, strings strings) except where the validator needs another
form of the same value:

- Tags (and any other map, list or struct column) become JSON text. FOCUS defines Tags as a JSON
  object (KeyValueFormat) and the validator checks it with DuckDB's JSON functions on text
  (`json_valid(Tags::TEXT)`): a Parquet map fails Tags-C-001-M on every row, its JSON passes.
  Keys and values are carried over unchanged (`to_json`); an empty map is `{}`.
- Timestamps are written as UTC instants (TIMESTAMP WITH TIME ZONE): the warehouse keeps UTC in
  plain TIMESTAMP columns, and the file then says UTC instead of leaving the reader to assume it.
  (The validator drops a datetime column with any null, so a null ChargePeriodStart shows up as
  that column missing.)
- An input table that arrives as text (a CSV export: every column VARCHAR) has '' and 'NULL' read
  as nulls, the convention of the adapters (focus/unified.py) and of the validator's own CSV
  reader; written as Parquet, so IDs stay text (the validator's CSV reader infers 128-bit
  integers for long numeric IDs and fails).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ..sql_layer import connect_duckdb


def connect(database: Path | str, timeout_seconds: float = 120.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection in UTC, waiting while a writer holds the file (as the warehouse does)."""
    connection = connect_duckdb(str(database), read_only=True, timeout_seconds=timeout_seconds)
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def relations(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """Tables and views of the database's main schema."""
    return {
        name
        for (name,) in connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
        ).fetchall()
    }


def columns(connection: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(name, kind) for name, kind, *_ in connection.execute(f"DESCRIBE {quoted(relation)}").fetchall()]


def _nested(kind: str) -> bool:
    return kind.startswith(("MAP(", "STRUCT(", "UNION(")) or kind.endswith("]")


def export(connection: duckdb.DuckDBPyConnection, relation: str, path: Path, *, where: str | None = None) -> int:
    """Write `relation` (a table or view) to `path` as Parquet; returns the rows written."""
    described = columns(connection, relation)
    text = all(kind == "VARCHAR" for _, kind in described)
    select = []
    for name, kind in described:
        column = quoted(name)
        if _nested(kind):
            expression = f"CAST(to_json({column}) AS VARCHAR)"
        elif kind == "TIMESTAMP":
            expression = f"CAST({column} AS TIMESTAMP WITH TIME ZONE)"
        elif text:
            expression = f"nullif(nullif({column}, ''), 'NULL')"
        else:
            continue
        select.append(f"{expression} AS {column}")
    replaced = f" REPLACE ({', '.join(select)})" if select else ""
    query = f"SELECT *{replaced} FROM {quoted(relation)}" + (f" WHERE {where}" if where else "")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target = str(path).replace("'", "''")
    connection.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)")
    return connection.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
