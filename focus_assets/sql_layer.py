"""The SQL layer: the Athena files in `sql/`, and running them on the embedded engine (DuckDB).

`sql/` holds one object per file, in Athena (Trino) SQL: `tables/` (external tables, generated
from the schema module), `views/`, and `queries/` (parameterised, run on demand). On DuckDB the
same files are transpiled with sqlglot; an external table becomes a view over its Parquet files
(Hive partitions kept as strings), or an empty typed table while it has no file yet.

The folder is installed as the package `focus_assets.sql` (pyproject.toml) and read with
`importlib.resources`, so a wheel carries it; an editable install reads the checkout's `sql/`.

Other providers' FOCUS data comes in through the adapter views `focus_source_<name>` (see
`focus/unified.py`): each reads a table named in configuration (`SourceTable`). An adapter whose
source is not configured is not created, and its branch is left out of `focus_unified`. A
configured table name is substituted into the SQL text, so it must be a plain identifier (or
database.table): `names.table_name` refuses anything else before it is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import expressions as exp

from .focus.ddl import LOCATION_PLACEHOLDER
from .focus.names import table_name
from .focus.unified import ADAPTERS

SQL_DIR = resources.files("focus_assets.sql")
UNIFIED_VIEW = "focus_unified"
_ADAPTERS_BY_VIEW = {a.view: a for a in ADAPTERS}


@dataclass(frozen=True)
class SourceTable:
    """Where an adapter's source is: the table's name in the catalog and, for the embedded engine,
    its local files (a Parquet file or folder, or a CSV file, read as text)."""

    table: str
    path: Path | None = None


@dataclass(frozen=True)
class SqlObject:
    name: str
    kind: str  # "table" or "view"
    path: Traversable
    text: str
    statement: exp.Create
    depends_on: frozenset[str]


def _parse(text: str) -> exp.Expression:
    for adapter in ADAPTERS:  # table names from configuration, for parsing only
        text = text.replace(adapter.placeholder, f"configured_{adapter.name}")
    return sqlglot.parse_one(text.replace(LOCATION_PLACEHOLDER, "s3://placeholder"), read="athena")


def _referenced_tables(statement: exp.Expression) -> set[str]:
    ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    return {table.name for table in statement.find_all(exp.Table) if not table.name.startswith("configured_")} - ctes


class NoSqlObjects(RuntimeError):
    """A folder of the SQL layer has no file: the pipeline would publish nothing and say nothing."""


def _sql_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql") and entry.is_file()),
        key=lambda entry: entry.name,
    )


def load_objects(sql_dir: Traversable = SQL_DIR) -> list[SqlObject]:
    """Tables, then views in an order where each comes after the objects it reads. Raises
    NoSqlObjects when `tables/` or `views/` has no .sql file (an install without its data)."""
    objects: dict[str, SqlObject] = {}
    for folder, kind in (("tables", "table"), ("views", "view")):
        files = _sql_files(sql_dir / folder)
        if not files:
            raise NoSqlObjects(
                f"no {kind} to create: {sql_dir / folder} has no .sql file. The SQL files "
                "ship as the package focus_assets.sql; was the package built without its data?"
            )
        for path in files:
            text = path.read_text()
            statement = _parse(text)
            if not isinstance(statement, exp.Create):
                raise ValueError(f"{path}: expected one CREATE statement")
            name = statement.this.name if kind == "view" else statement.this.this.name
            if name != path.name.removesuffix(".sql"):
                raise ValueError(f"{path}: creates {name}, but a file is named after its object")
            objects[name] = SqlObject(
                name, kind, path, text, statement, frozenset(_referenced_tables(statement) - {name})
            )
    ordered: list[SqlObject] = []
    placed: set[str] = set()
    pending = list(objects.values())
    while pending:
        ready = [o for o in pending if o.depends_on <= placed | (o.depends_on - set(objects))]
        if not ready:
            raise ValueError("circular references between views: " + ", ".join(o.name for o in pending))
        for obj in ready:
            ordered.append(obj)
            placed.add(obj.name)
            pending.remove(obj)
    return ordered


def load_query(name: str, sql_dir: Traversable = SQL_DIR) -> str:
    return (sql_dir / "queries" / f"{name}.sql").read_text()


def to_duckdb(sql: str) -> str:
    """Athena SQL as DuckDB SQL (one statement)."""
    return sqlglot.transpile(sql, read="athena", write="duckdb")[0]


def _external_table_on_duckdb(obj: SqlObject, lake_root: Path, connection: duckdb.DuckDBPyConnection) -> str:
    """An external table as DuckDB sees it: a view over its Parquet files, typed as declared. A
    column no file has yet (files written before it was added) reads as NULL, as in Athena."""
    schema = obj.statement.this
    columns = [(c.name, c.args["kind"].sql("duckdb")) for c in schema.expressions]
    partitioned = obj.statement.find(exp.PartitionedByProperty)
    partitions = [(c.name, c.args["kind"].sql("duckdb")) for c in partitioned.this.expressions] if partitioned else []
    location = Path(str(obj.statement.find(exp.LocationProperty).this.name).replace("s3://placeholder", str(lake_root)))
    if not any(location.rglob("*.parquet")):
        definition = ", ".join(f'"{name}" {kind}' for name, kind in columns + partitions)
        return f'CREATE OR REPLACE TABLE "{obj.name}" ({definition})'
    hive = ""
    if partitions:
        types = ", ".join(f"'{name}': {kind}" for name, kind in partitions)
        hive = f", hive_partitioning = true, hive_types = {{{types}}}"
    files = (location / "**" / "*.parquet").as_posix().replace("'", "''")
    reader = f"read_parquet('{files}'{hive}, union_by_name = true)"
    present = {row[0] for row in connection.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()}
    select = ", ".join(
        f"CAST({_quoted(name) if name in present else 'NULL'} AS {kind}) AS {_quoted(name)}"
        for name, kind in columns + partitions
    )
    return f'CREATE OR REPLACE VIEW "{obj.name}" AS SELECT {select} FROM {reader}'


def _quoted(name: str) -> str:
    return f'"{name}"'


def configured_sql(obj: SqlObject, sources: dict[str, SourceTable]) -> str | None:
    """The Athena text of a view for the configured sources: adapter tables named, unconfigured
    adapters dropped (None), and their branches left out of the unified view."""
    adapter = _ADAPTERS_BY_VIEW.get(obj.name)
    if adapter is not None:
        if adapter.table is not None:
            return obj.text
        if adapter.name not in sources:
            return None
        return obj.text.replace(adapter.placeholder, source_table_name(adapter.name, sources[adapter.name]))
    if obj.name == UNIFIED_VIEW:
        kept = [a.view for a in ADAPTERS if a.table is not None or a.name in sources]
        union = "\nUNION ALL\n".join(f"SELECT * FROM {view}" for view in kept)
        return f"CREATE OR REPLACE VIEW {UNIFIED_VIEW} AS\n{union}\n"
    return obj.text


def source_table_name(adapter: str, source: SourceTable) -> str:
    """The source's table name, checked before it goes into SQL (named after its setting)."""
    return table_name(source.table, f"FOCUS_SOURCE_{adapter.upper()}_TABLE")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _source_on_duckdb(adapter: str, source: SourceTable) -> str:
    path = Path(source.path)
    if path.suffix.lower() == ".csv":
        reader = f"read_csv({_literal(path.as_posix())}, header = true, all_varchar = true)"
    else:
        files = (path / "**" / "*.parquet") if path.is_dir() else path
        reader = f"read_parquet({_literal(files.as_posix())})"
    return f'CREATE OR REPLACE VIEW "{source_table_name(adapter, source)}" AS SELECT * FROM {reader}'


def _drop(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    kinds = connection.execute(
        "SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ? "
        "UNION ALL SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? AND NOT internal",
        [name, name],
    ).fetchall()
    for (kind,) in kinds:
        connection.execute(f'DROP {kind} "{name}"')


def connect_duckdb(database: str, read_only: bool, timeout_seconds: float = 120.0) -> duckdb.DuckDBPyConnection:
    """Open the database file, waiting while another process holds it: DuckDB allows one writing
    process at a time, and runs of several partitions (a backfill) share the file."""
    wait, waited = 0.05, 0.0
    while True:
        try:
            return duckdb.connect(database, read_only=read_only)
        except duckdb.IOException as exc:
            if "Could not set lock" not in str(exc) or waited >= timeout_seconds:
                raise
        time.sleep(wait)
        waited += wait
        wait = min(wait * 2, 1.0)


def apply_to_duckdb(
    connection: duckdb.DuckDBPyConnection,
    lake_root: Path,
    sources: dict[str, SourceTable] | None = None,
    sql_dir: Traversable = SQL_DIR,
    names: set[str] | None = None,
) -> list[str]:
    """Create the tables and views of `sql/` (all, or those in `names`) in a DuckDB database over
    the local lake, with the configured sources. Returns the names created, in order."""
    sources = sources or {}
    connection.execute("SET TimeZone = 'UTC'")  # date_trunc and casts to date in UTC, as in Athena
    for adapter, source in sources.items():
        if source.path is not None:
            connection.execute(_source_on_duckdb(adapter, source))
    created = []
    for obj in load_objects(sql_dir):
        if names is not None and obj.name not in names:
            continue
        if obj.kind == "table":
            _drop(connection, obj.name)  # an empty table becomes a view once files exist
            connection.execute(_external_table_on_duckdb(obj, Path(lake_root), connection))
        else:
            text = configured_sql(obj, sources)
            if text is None:
                continue
            connection.execute(to_duckdb(text))
        created.append(obj.name)
    return created
