"""The resources of each deployment, chosen in one place by FOCUS_DEPLOYMENT.

`local` (the default) needs no cloud account: the OSS export bucket, the raw bucket and the lake
are folders under FOCUS_HOME (default `.focus/` here), and DuckDB (`warehouse.duckdb` there) is
the query engine. The `aws` deployment (oss2, S3 through dagster-aws, Athena and Glue) is not
built yet.
"""

from __future__ import annotations

import os
from pathlib import Path

from .alibaba.assets import ExportSettings
from .resources.stores import LocalFolderStore
from .resources.warehouse import DuckDBWarehouse


def local_resources(home: Path) -> dict:
    home = Path(home).resolve()
    return {
        "export_bucket": LocalFolderStore(root=str(home / "oss")),
        "raw_bucket": LocalFolderStore(root=str(home / "raw")),
        "lake": LocalFolderStore(root=str(home / "lake")),
        "warehouse": DuckDBWarehouse(database=str(home / "warehouse.duckdb"), lake_root=str(home / "lake")),
        "export_settings": ExportSettings(),
    }


def resources_for(deployment: str | None = None) -> dict:
    deployment = deployment or os.environ.get("FOCUS_DEPLOYMENT", "local")
    if deployment == "local":
        return local_resources(Path(os.environ.get("FOCUS_HOME", ".focus")))
    raise ValueError(f"FOCUS_DEPLOYMENT={deployment!r}: only 'local' is available in this version")
