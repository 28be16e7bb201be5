"""The Athena DDL of the typed table, generated from the schema module.

`sql/tables/focus_alibaba_normalized.sql` is this function's output, checked in so that it can
be read and reviewed; a test fails when the two differ (`python -m focus_assets.focus.ddl` writes
the file again).
"""

from __future__ import annotations

import sys
from importlib import resources

from .schema import DEFAULT_PROMOTED_TAGS, LEDGER_COLUMNS, PARTITION_COLUMNS, Column, output_columns
from .writer import COMPRESSION, LEDGER_TABLE, OUTPUT_TABLE

LOCATION_PLACEHOLDER = "${LAKE_LOCATION}"
# The repository's sql/, installed as the package focus_assets.sql: in an editable install (where
# this module is run to write the files again) the checkout's folder itself.
TABLES_DIR = resources.files("focus_assets.sql") / "tables"


def _columns(columns: tuple[Column, ...]) -> str:
    width = max(len(c.name) for c in columns)
    return ",\n".join(f"  {c.name:<{width}}  {c.kind.athena}" for c in columns)


_GENERATED = "-- Generated from focus_assets/focus/schema.py by `python -m focus_assets.focus.ddl`: do not edit.\n"


def athena_table_ddl(promoted_tags: tuple[str, ...] = DEFAULT_PROMOTED_TAGS) -> str:
    partitions = ", ".join(f"{name} {kind}" for name, kind in PARTITION_COLUMNS)
    return (
        "-- Every delivery of Alibaba's FOCUS export, typed (history: one partition per delivery).\n"
        + _GENERATED
        + f"CREATE EXTERNAL TABLE IF NOT EXISTS {OUTPUT_TABLE} (\n{_columns(output_columns(promoted_tags))}\n)\n"
        f"PARTITIONED BY ({partitions})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{LOCATION_PLACEHOLDER}/{OUTPUT_TABLE}/'\n"
        f"TBLPROPERTIES ('parquet.compression' = '{COMPRESSION.upper()}')\n"
    )


def ledger_table_ddl() -> str:
    return (
        "-- The delivery ledger: one row per published delivery, written after all its files, so that\n"
        "-- a delivery is visible to the views only once it is complete.\n"
        + _GENERATED
        + f"CREATE EXTERNAL TABLE IF NOT EXISTS {LEDGER_TABLE} (\n{_columns(LEDGER_COLUMNS)}\n)\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{LOCATION_PLACEHOLDER}/{LEDGER_TABLE}/'\n"
        f"TBLPROPERTIES ('parquet.compression' = '{COMPRESSION.upper()}')\n"
    )


GENERATED_FILES = {
    TABLES_DIR / f"{OUTPUT_TABLE}.sql": athena_table_ddl,
    TABLES_DIR / f"{LEDGER_TABLE}.sql": ledger_table_ddl,
}


if __name__ == "__main__":
    for path, generate in GENERATED_FILES.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generate())
        sys.stdout.write(f"wrote {path}\n")
