"""Athena and the Glue Data Catalog, for the `aws` deployment.

`AthenaQueries` runs SQL and waits for it, polling with exponential backoff; a failed or
cancelled query raises `AthenaQueryError` carrying Athena's own reason. `GlueCatalog` creates the
typed table from the schema module and registers partitions through the Glue API, which costs the
same on day 1,000 as on day 1 (no `MSCK REPAIR TABLE` listing of the whole lake).
"""

from __future__ import annotations

import time

import boto3
import dagster as dg
from botocore.config import Config

from ..focus.schema import PARTITION_COLUMNS, Column, output_columns
from ..focus.writer import COMPRESSION, OUTPUT_TABLE
from ..storage.s3 import aws_errors

# Glue's BatchCreatePartition takes at most 100 partitions a call (a first registration of a
# long history, or the maintenance job after a table is recreated, has more).
GLUE_BATCH_PARTITIONS = 100

_CLIENT_CONFIG = Config(retries={"max_attempts": 10, "mode": "standard"})  # throttling and 5xx, with backoff
_PARQUET_SERDE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


class AthenaQueryError(RuntimeError):
    """A query that Athena failed or cancelled, or refused; the message is Athena's reason."""


class CatalogError(RuntimeError):
    """A Glue call refused for good (after boto3's retries); the message is Glue's."""


class AthenaQueries(dg.ConfigurableResource):
    region_name: str
    database: str
    workgroup: str = "primary"
    output_location: str  # s3://bucket/prefix/ for query results
    endpoint_url: str | None = None
    poll_seconds: float = 0.2  # first wait; doubles up to max_poll_seconds
    max_poll_seconds: float = 5.0
    timeout_seconds: float = 600.0

    def client(self):
        return boto3.client(
            "athena", region_name=self.region_name, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG
        )

    def run(self, sql: str, parameters: list[str] | None = None) -> str:
        """Start `sql`, wait until it ends; returns the query execution id."""
        client = self.client()
        request = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
            "ResultConfiguration": {"OutputLocation": self.output_location},
        }
        if parameters:
            request["ExecutionParameters"] = parameters
        with aws_errors(f"Athena query in workgroup {self.workgroup}", AthenaQueryError):
            query_id = client.start_query_execution(**request)["QueryExecutionId"]
            return wait_for_query(client, query_id, self.poll_seconds, self.max_poll_seconds, self.timeout_seconds)


def wait_for_query(client, query_id: str, poll_seconds: float, max_poll_seconds: float, timeout_seconds: float) -> str:
    """Poll until the query ends, waiting twice as long each time; raise with Athena's reason."""
    wait, waited = poll_seconds, 0.0
    while True:
        status = client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            return query_id
        if state in ("FAILED", "CANCELLED"):
            reason = status.get("StateChangeReason") or status.get("AthenaError", {}).get("ErrorMessage") or state
            raise AthenaQueryError(f"Athena query {query_id} {state.lower()}: {reason}")
        if waited >= timeout_seconds:
            raise AthenaQueryError(f"Athena query {query_id} still {state.lower()} after {timeout_seconds:.0f} s")
        time.sleep(wait)
        waited += wait
        wait = min(wait * 2, max_poll_seconds)


class GlueCatalog(dg.ConfigurableResource):
    region_name: str
    database: str
    endpoint_url: str | None = None

    def client(self):
        return boto3.client("glue", region_name=self.region_name, endpoint_url=self.endpoint_url, config=_CLIENT_CONFIG)

    def ensure_table(
        self,
        location: str,
        table: str = OUTPUT_TABLE,
        columns: tuple[Column, ...] | None = None,
        partitioned: bool = True,
    ) -> bool:
        """Create the database and a table (default: the typed table, from the schema module) if
        missing. Returns True when it created the table."""
        with aws_errors(f"Glue creating table {self.database}.{table}", CatalogError):
            return self._ensure_table(self.client(), location, table, columns, partitioned)

    def _ensure_table(
        self, client, location: str, table: str, columns: tuple[Column, ...] | None, partitioned: bool
    ) -> bool:
        try:
            client.create_database(DatabaseInput={"Name": self.database})
        except client.exceptions.AlreadyExistsException:
            pass
        try:
            client.get_table(DatabaseName=self.database, Name=table)
            return False
        except client.exceptions.EntityNotFoundException:
            pass
        table_input = {
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "parquet.compression": COMPRESSION.upper()},
            "PartitionKeys": [{"Name": name, "Type": kind} for name, kind in PARTITION_COLUMNS] if partitioned else [],
            "StorageDescriptor": {
                "Columns": [{"Name": c.name, "Type": c.kind.athena} for c in (columns or output_columns())],
                "Location": location.rstrip("/") + "/",
                **_PARQUET_SERDE,
            },
        }
        try:
            client.create_table(DatabaseName=self.database, TableInput=table_input)
        except client.exceptions.AlreadyExistsException:  # a concurrent run, or a retry of a call that got through
            return False
        return True

    def register_partitions(self, location: str, partitions: list[tuple[str, str]], table: str = OUTPUT_TABLE) -> int:
        """Register (yearmonth, batch_ts) partitions not yet in the catalog: one batch call per 100
        new ones, whatever the number already there. Returns how many were added."""
        with aws_errors(f"Glue registering partitions of {self.database}.{table}", CatalogError):
            return self._register_partitions(self.client(), location, partitions, table)

    def _register_partitions(self, client, location: str, partitions: list[tuple[str, str]], table: str) -> int:
        existing = set()
        for yearmonth, batch_ts in partitions:
            try:
                client.get_partition(DatabaseName=self.database, TableName=table, PartitionValues=[yearmonth, batch_ts])
                existing.add((yearmonth, batch_ts))
            except client.exceptions.EntityNotFoundException:
                pass
        new = [p for p in dict.fromkeys(partitions) if p not in existing]
        for start in range(0, len(new), GLUE_BATCH_PARTITIONS):
            result = client.batch_create_partition(
                DatabaseName=self.database,
                TableName=table,
                PartitionInputList=[
                    {
                        "Values": [yearmonth, batch_ts],
                        "StorageDescriptor": {
                            "Columns": [{"Name": c.name, "Type": c.kind.athena} for c in output_columns()],
                            "Location": f"{location.rstrip('/')}/yearmonth={yearmonth}/batch_ts={batch_ts}/",
                            **_PARQUET_SERDE,
                        },
                    }
                    for yearmonth, batch_ts in new[start : start + GLUE_BATCH_PARTITIONS]
                ],
            )
            # A retried call whose first attempt did reach Glue finds its partitions there already.
            errors = [e for e in result.get("Errors", []) if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"]
            if errors:
                raise CatalogError(f"Glue refused partitions of {self.database}.{table}: {errors}")
        return len(new)


def query_rows(client, query_id: str) -> list[tuple[str | None, ...]]:
    """The result rows of a finished query, as text (the header row left out)."""
    rows = []
    for page in client.get_paginator("get_query_results").paginate(QueryExecutionId=query_id):
        rows.extend(tuple(cell.get("VarCharValue") for cell in row["Data"]) for row in page["ResultSet"]["Rows"])
    return rows[1:]
