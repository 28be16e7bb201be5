"""The query engine: DuckDB in the embedded default (Athena's resource comes with the `aws`
deployment). It creates the objects of `sql/` over the lake."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from ..sql_layer import SourceTable, apply_to_duckdb, load_objects


class DuckDBWarehouse(dg.ConfigurableResource):
    """A DuckDB database file over the local lake; open it with any DuckDB client or BI tool."""

    database: str
    lake_root: str
    # Other providers for focus_unified: adapter name -> table name, and (locally) -> file or folder.
    source_tables: dict[str, str] = {}
    source_paths: dict[str, str] = {}

    def sources(self) -> dict[str, SourceTable]:
        return {name: SourceTable(table, Path(self.source_paths[name]) if name in self.source_paths else None)
                for name, table in self.source_tables.items()}

    def create(self, names: set[str]) -> list[str]:
        """Create (or replace) these objects of `sql/`; returns those created."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(self.database) as connection:
            return apply_to_duckdb(connection, Path(self.lake_root), self.sources(), names=names)

    def register(self, partitions: list[tuple[str, str]]) -> None:
        """Make the tables see these (yearmonth, batch_ts) partitions: locally, the table views
        read the lake's folders, so re-creating them is enough."""
        self.create(objects_of("table"))

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with duckdb.connect(self.database, read_only=True) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            return connection.execute(sql, parameters or []).fetchall()

    def describe(self) -> str:
        return f"DuckDB {self.database}"


def objects_of(kind: str, prefix: str = "") -> set[str]:
    return {o.name for o in load_objects() if o.kind == kind and o.name.startswith(prefix)}
