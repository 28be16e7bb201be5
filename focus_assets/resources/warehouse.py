"""The query engine behind one interface: DuckDB in the embedded default, Athena (with the Glue
catalog) on AWS. Either creates the objects of `sql/` over the lake and registers partitions."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

import dagster as dg

from ..focus.ddl import LOCATION_PLACEHOLDER
from ..focus.schema import LEDGER_COLUMNS
from ..focus.writer import LEDGER_TABLE, OUTPUT_TABLE
from ..sql_layer import SourceTable, apply_to_duckdb, configured_sql, connect_duckdb, load_objects, to_duckdb
from ..storage.s3 import aws_errors
from .athena import AthenaQueries, AthenaQueryError, CatalogError, GlueCatalog, query_rows
from .stores import S3Store


class Warehouse(dg.ConfigurableResource):
    """Where the SQL layer lives. (pydantic's model metaclass is an ABCMeta: abstract methods hold.)"""

    # Dagster kinds of the assets that build the table and the views on this engine.
    TABLE_KINDS: ClassVar[frozenset[str]]
    VIEW_KINDS: ClassVar[frozenset[str]]

    @abstractmethod
    def create(self, names: set[str]) -> list[str]:
        """Create (or replace) these SQL objects of sql/; their names, in order."""

    @abstractmethod
    def register(self, partitions: list[tuple[str, str]]) -> None:
        """Make these (yearmonth, batch_ts) partitions of the typed table visible to queries."""

    @abstractmethod
    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        """The rows of one statement in Athena (Trino) SQL, the text both engines take: Athena runs
        it as it is, DuckDB transpiled (never the other way)."""

    @abstractmethod
    def table_columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of a table's columns as the engine sees them, partition columns last."""

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is, for metadata and messages (no secrets)."""


class DuckDBWarehouse(Warehouse):
    """A DuckDB database file over the local lake; open it with any DuckDB client or BI tool."""

    TABLE_KINDS: ClassVar[frozenset[str]] = frozenset({"duckdb"})
    VIEW_KINDS: ClassVar[frozenset[str]] = frozenset({"sql", "duckdb"})

    database: str
    lake_root: str
    # Other providers for focus_unified: adapter name -> table name, and (locally) -> file or folder.
    source_tables: dict[str, str] = {}
    source_paths: dict[str, str] = {}

    def sources(self) -> dict[str, SourceTable]:
        return {
            name: SourceTable(table, Path(self.source_paths[name]) if name in self.source_paths else None)
            for name, table in self.source_tables.items()
        }

    def create(self, names: set[str]) -> list[str]:
        """Create (or replace) these objects of `sql/`; returns those created."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with connect_duckdb(self.database, read_only=False) as connection:
            return apply_to_duckdb(connection, Path(self.lake_root), self.sources(), names=names)

    def register(self, partitions: list[tuple[str, str]]) -> None:
        """Make the tables see these (yearmonth, batch_ts) partitions: locally, the table views
        read the lake's folders, so re-creating them is enough."""
        self.create(objects_of("table"))

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        with connect_duckdb(self.database, read_only=True) as connection:  # DuckDB's own DESCRIBE, not Athena SQL
            return [(name, kind) for name, kind, *_ in connection.execute(f'DESCRIBE "{table}"').fetchall()]

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        with connect_duckdb(self.database, read_only=True) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            return connection.execute(to_duckdb(sql), parameters or []).fetchall()

    def describe(self) -> str:
        return f"DuckDB {self.database}"


def objects_of(kind: str, prefix: str = "") -> set[str]:
    return {o.name for o in load_objects() if o.kind == kind and o.name.startswith(prefix)}


class AthenaWarehouse(Warehouse):
    """Athena over the S3 lake: tables and partitions through the Glue API, views through Athena."""

    TABLE_KINDS: ClassVar[frozenset[str]] = frozenset({"athena", "glue", "s3"})
    VIEW_KINDS: ClassVar[frozenset[str]] = frozenset({"sql", "athena"})

    athena: AthenaQueries
    glue: GlueCatalog
    lake: S3Store  # the lake's bucket and prefix
    source_tables: dict[str, str] = {}  # adapter name -> table name in the catalog

    @property
    def lake_location(self) -> str:
        return self.lake.get_bucket().location().rstrip("/")

    def _location(self, table: str) -> str:
        return f"{self.lake_location}/{table}/"

    def create(self, names: set[str]) -> list[str]:
        created = []
        sources = {name: SourceTable(table) for name, table in self.source_tables.items()}
        for obj in load_objects():
            if obj.name not in names:
                continue
            if obj.name == OUTPUT_TABLE:
                self.glue.ensure_table(self._location(OUTPUT_TABLE))
            elif obj.name == LEDGER_TABLE:
                self.glue.ensure_table(self._location(LEDGER_TABLE), LEDGER_TABLE, LEDGER_COLUMNS, partitioned=False)
            elif obj.kind == "view":
                text = configured_sql(obj, sources)
                if text is None:
                    continue
                self.athena.run(text)
            else:
                self.athena.run(obj.text.replace(LOCATION_PLACEHOLDER, self.lake_location.rstrip("/")))
            created.append(obj.name)
        return created

    def register(self, partitions: list[tuple[str, str]]) -> None:
        self.glue.ensure_table(self._location(OUTPUT_TABLE))
        self.glue.register_partitions(self._location(OUTPUT_TABLE), partitions)

    def query(self, sql: str, parameters: list | None = None) -> list[tuple]:
        query_id = self.athena.run(sql, [str(p) for p in parameters] if parameters else None)
        with aws_errors(f"Athena reading the results of {query_id}", AthenaQueryError):
            return query_rows(self.athena.client(), query_id)

    def table_columns(self, table: str) -> list[tuple[str, str]]:
        with aws_errors(f"Glue reading table {self.glue.database}.{table}", CatalogError):
            found = self.glue.client().get_table(DatabaseName=self.glue.database, Name=table)["Table"]
        return [(c["Name"], c["Type"]) for c in found["StorageDescriptor"]["Columns"] + found.get("PartitionKeys", [])]

    def describe(self) -> str:
        return f"Athena database {self.athena.database} (workgroup {self.athena.workgroup})"
