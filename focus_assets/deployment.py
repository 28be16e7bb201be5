"""The resources of each deployment, chosen in one place by FOCUS_DEPLOYMENT.

`local` (the default) needs no cloud account: the OSS export bucket, the raw bucket and the lake
are folders under FOCUS_HOME (default `.focus/` here), and DuckDB (`warehouse.duckdb` there) is
the query engine. Two files there are configuration every process reads (the demo, `make ui`, a
run started from the UI or the CLI): `sources.json`, the other providers' sources for
focus_unified, and `dagster/dagster.yaml`, the Dagster instance the runs are recorded in.

`aws`: OSS through oss2, S3 through dagster-aws, Athena and the Glue catalog. Every setting comes
from the environment (README, "Configuration"); the OSS keys are read through Dagster's `EnvVar`
at run time and never appear in logs or metadata; AWS credentials are boto3's usual ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from .alibaba.export_settings import ExportSettings
from .deployment_settings import delivery_schedule
from .focus import names
from .focus.export_sources import DEFAULT_SOURCE, SETTING, ExportSource, parse_sources
from .focus.unified import ADAPTERS
from .resources.athena import AthenaQueries, GlueCatalog
from .resources.stores import ExportSources, ExportSourceStore, LocalFolderStore, S3Store
from .resources.warehouse import AthenaWarehouse, DuckDBWarehouse
from .sql_layer import SourceTable

SOURCES_FILE = "sources.json"  # in FOCUS_HOME: adapter name -> {"table": ..., "path": ...}
DAGSTER_FOLDER = "dagster"  # in FOCUS_HOME: the local Dagster instance (DAGSTER_HOME)
DAGSTER_YAML = """\
# The Dagster instance of the local deployment (focus_assets/deployment.py writes it when absent):
# `make demo` records its runs here and `make ui` opens it. No storage key: Dagster's default keeps
# runs, events and schedules in SQLite files in this folder, with no absolute path, so it can move.
telemetry:
  enabled: false
"""


def ingestion_mode() -> str:
    """FOCUS_INGESTION_MODE: `pull` (Dagster copies from OSS, the default) or `push` (Alibaba's
    Function Compute copies into the raw bucket; Dagster reads only that bucket)."""
    mode = os.environ.get("FOCUS_INGESTION_MODE", "pull")
    if mode not in ("pull", "push"):
        raise ValueError(f"FOCUS_INGESTION_MODE={mode!r}: 'pull' or 'push'")
    return mode


def catch_up_enabled() -> bool:
    """FOCUS_CATCH_UP=1: type only the newest delivery of each billing month (ExportSettings.catch_up)."""
    return os.environ.get("FOCUS_CATCH_UP", "").lower() in ("1", "true", "yes", "on")


def _schedule_settings() -> dict:
    """The export settings that come from the delivery schedule (deployment_settings.py)."""
    schedule = delivery_schedule()
    return {"source_timezone": schedule.source_timezone, "settle_seconds": schedule.settle_seconds}


def local_home() -> Path:
    """FOCUS_HOME (default `.focus`, from the working directory), absolute."""
    return Path(os.environ.get("FOCUS_HOME", ".focus")).resolve()


def local_dagster_home(home: Path) -> Path:
    """FOCUS_HOME/dagster, the instance folder (DAGSTER_HOME) of the local deployment, with its
    dagster.yaml written if absent (a file someone edited is kept)."""
    folder = Path(home).resolve() / DAGSTER_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return folder


def write_local_sources(home: Path, sources: dict[str, SourceTable]) -> Path:
    """Write FOCUS_HOME/sources.json; paths inside FOCUS_HOME are written relative to it, so the
    folder can move."""
    home = Path(home).resolve()

    def relative(path: Path) -> str:
        path = Path(path).resolve()
        return (path.relative_to(home) if path.is_relative_to(home) else path).as_posix()

    entries = {name: {"table": s.table, "path": relative(s.path)} for name, s in sorted(sources.items())}
    file = home / SOURCES_FILE
    file.write_text(json.dumps(entries, indent=2) + "\n")
    return file


def local_sources(home: Path) -> dict[str, SourceTable]:
    """The other providers' sources on `local`, from FOCUS_HOME/sources.json when present (else
    none: focus_unified has Alibaba alone). A relative path is from FOCUS_HOME. Unknown adapters
    and unsafe table names fail the definitions' load, naming the file."""
    file = Path(home).resolve() / SOURCES_FILE
    if not file.exists():
        return {}
    entries = json.loads(file.read_text())
    known = {adapter.name for adapter in ADAPTERS if adapter.table is None}
    sources = {}
    for name, entry in entries.items():
        if name not in known:
            raise ValueError(f"{file}: unknown adapter {name!r} (known: {', '.join(sorted(known))})")
        if not isinstance(entry, dict) or set(entry) != {"table", "path"}:
            raise ValueError(f"{file}: {name!r} needs exactly the keys 'table' and 'path'")
        table = names.table_name(entry["table"], f"{file}: {name}.table")
        sources[name] = SourceTable(table, Path(home).resolve() / entry["path"])
    return sources


def export_sources_setting() -> list[ExportSource] | None:
    """FOCUS_EXPORT_SOURCES, checked (focus/export_sources.py), or None when it is not set."""
    text = os.environ.get(SETTING, "").strip()
    return parse_sources(text) if text else None


def local_export_sources(home: Path, mode: str, sources: list[ExportSource] | None = None) -> ExportSources:
    """Each source's export bucket is a folder: its `folder` (relative to FOCUS_HOME), else
    FOCUS_HOME/oss for the default source and FOCUS_HOME/oss-<name> for another. In push mode
    every source is read from its raw folder."""
    home = Path(home).resolve()

    def folder(source: ExportSource) -> str | None:
        if mode == "push":
            return None
        if source.folder is not None:
            return str(home / source.folder)
        return str(home / ("oss" if source.name == DEFAULT_SOURCE else f"oss-{source.name}"))

    return ExportSources(
        sources=[
            ExportSourceStore(name=s.name, export_prefix=s.export_prefix, folder=folder(s))
            for s in (sources or [ExportSource()])
        ]
    )


def local_resources(
    home: Path, mode: str = "pull", catch_up: bool = False, export_sources: list[ExportSource] | None = None
) -> dict:
    """The embedded default. In push mode the stand-in for Function Compute is
    `focus_assets.demo.push_deliveries` (the same copy routine, folder to folder). The other
    providers' sources come from FOCUS_HOME/sources.json (`local_sources`); the export sources
    from FOCUS_EXPORT_SOURCES (`local_export_sources`)."""
    home = Path(home).resolve()
    raw = LocalFolderStore(root=str(home / "raw"))
    sources = local_sources(home)
    return {
        "export_sources": local_export_sources(home, mode, export_sources),
        "raw_bucket": raw,
        "lake": LocalFolderStore(root=str(home / "lake")),
        "reports": LocalFolderStore(root=str(home / "reports")),  # the cost report (focus_assets/reporting)
        "warehouse": DuckDBWarehouse(
            database=str(home / "warehouse.duckdb"),
            lake_root=str(home / "lake"),
            source_tables={name: s.table for name, s in sources.items()},
            source_paths={name: str(s.path) for name, s in sources.items()},
        ),
        "export_settings": ExportSettings(ingestion_mode=mode, catch_up=catch_up, **_schedule_settings()),
    }


REQUIRED = ("FOCUS_AWS_REGION", "FOCUS_RAW_BUCKET", "FOCUS_LAKE_BUCKET", "FOCUS_ATHENA_OUTPUT")
REQUIRED_TO_PULL = ("FOCUS_OSS_ENDPOINT", "FOCUS_OSS_BUCKET", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET")


def _prefix(name: str, default: str = "") -> str:
    """An optional key prefix from the environment, checked, as a folder: '' or 'a/b/'."""
    return names.key_prefix(os.environ.get(name, default), name)


def aws_export_sources(mode: str, sources: list[ExportSource] | None) -> ExportSources:
    """Without FOCUS_EXPORT_SOURCES, one source (`default`) from FOCUS_OSS_* and OSS_ACCESS_KEY_*, as
    before sources existed. Keys are read at run time through EnvVar, from the variables each
    source names; in push mode a source is read from its raw folder, and needs no OSS access."""
    if sources is None:
        sources = [
            ExportSource(
                export_prefix=_prefix("FOCUS_EXPORT_PREFIX", "focus-export/"),
                oss_endpoint=os.environ.get("FOCUS_OSS_ENDPOINT"),
                oss_bucket=os.environ.get("FOCUS_OSS_BUCKET"),
                oss_prefix=_prefix("FOCUS_OSS_PREFIX"),
                # Temporary OSS credentials (STS, e.g. RAM OIDC federation) come with a security token.
                security_token_env="OSS_SECURITY_TOKEN" if os.environ.get("OSS_SECURITY_TOKEN") else None,
            )
        ]
    stores = []
    for source in sources:
        if mode == "push":
            stores.append(ExportSourceStore(name=source.name, export_prefix=source.export_prefix))
            continue
        keys = [source.access_key_id_env, source.access_key_secret_env] + (
            [source.security_token_env] if source.security_token_env else []
        )
        missing = [name for name in keys if not os.environ.get(name)]
        if source.oss_bucket is None or missing:
            raise ValueError(
                f"export source {source.name!r} needs an OSS endpoint and bucket and the environment "
                f"variables {', '.join(keys)} (missing: {', '.join(missing) or 'the bucket'}; docs/sources.md)"
            )
        stores.append(
            ExportSourceStore(
                name=source.name,
                export_prefix=source.export_prefix,
                oss_endpoint=source.oss_endpoint,
                oss_bucket=source.oss_bucket,
                oss_prefix=source.oss_prefix,
                access_key_id=dg.EnvVar(source.access_key_id_env),
                access_key_secret=dg.EnvVar(source.access_key_secret_env),
                security_token=dg.EnvVar(source.security_token_env) if source.security_token_env else None,
            )
        )
    return ExportSources(sources=stores)


def aws_resources() -> dict:
    """Required settings are read at run time through EnvVar (checked here for a clear message
    when one is missing); optional ones have defaults. Every name that reaches SQL, a path or a
    policy is checked here, at load, against the rules of `focus/names.py`."""
    mode = ingestion_mode()
    export_sources = export_sources_setting()
    pulls_one_source = mode == "pull" and export_sources is None
    required = REQUIRED + (REQUIRED_TO_PULL if pulls_one_source else ())
    missing = [name for name in required if not os.environ.get(name)]
    if missing:
        raise ValueError(f"FOCUS_DEPLOYMENT=aws needs the environment variables {', '.join(missing)} (see the README)")
    for name in ("FOCUS_RAW_BUCKET", "FOCUS_LAKE_BUCKET") + (("FOCUS_OSS_BUCKET",) if pulls_one_source else ()):
        names.bucket(os.environ[name], name)
    names.s3_uri(os.environ["FOCUS_ATHENA_OUTPUT"])
    region = dg.EnvVar("FOCUS_AWS_REGION")
    s3 = S3Resource(region_name=region, endpoint_url=os.environ.get("FOCUS_S3_ENDPOINT_URL") or None)
    database = names.athena_database(os.environ.get("FOCUS_ATHENA_DATABASE", "focus"))
    workgroup = names.workgroup(os.environ.get("FOCUS_ATHENA_WORKGROUP", "primary"))
    endpoint = os.environ.get("FOCUS_ATHENA_ENDPOINT_URL") or None  # a local stand-in (tests)
    sources = {
        name.removeprefix("FOCUS_SOURCE_").removesuffix("_TABLE").lower(): names.table_name(table, name)
        for name, table in os.environ.items()
        if name.startswith("FOCUS_SOURCE_") and name.endswith("_TABLE")
    }
    lake_prefix = _prefix("FOCUS_LAKE_PREFIX")
    lake = S3Store(s3=s3, bucket=dg.EnvVar("FOCUS_LAKE_BUCKET"), prefix=lake_prefix)
    reports = S3Store(s3=s3, bucket=dg.EnvVar("FOCUS_LAKE_BUCKET"), prefix=lake_prefix + "reports/")
    raw = S3Store(s3=s3, bucket=dg.EnvVar("FOCUS_RAW_BUCKET"), prefix=_prefix("FOCUS_RAW_PREFIX"))
    return {
        "export_sources": aws_export_sources(mode, export_sources),
        "raw_bucket": raw,
        "lake": lake,
        "reports": reports,  # the cost report, in the lake bucket's reports/ folder
        "warehouse": AthenaWarehouse(
            athena=AthenaQueries(
                region_name=region,
                database=database,
                endpoint_url=endpoint,
                workgroup=workgroup,
                output_location=dg.EnvVar("FOCUS_ATHENA_OUTPUT"),
            ),
            glue=GlueCatalog(region_name=region, database=database, endpoint_url=endpoint),
            lake=lake,
            source_tables=sources,
        ),
        "export_settings": ExportSettings(
            ingestion_mode=mode,
            catch_up=catch_up_enabled(),
            **_schedule_settings(),
        ),
    }


def resources_for(deployment: str | None = None) -> dict:
    deployment = deployment or os.environ.get("FOCUS_DEPLOYMENT", "local")
    if deployment == "local":
        return local_resources(local_home(), ingestion_mode(), catch_up_enabled(), export_sources_setting())
    if deployment == "aws":
        return aws_resources()
    raise ValueError(f"FOCUS_DEPLOYMENT={deployment!r}: 'local' or 'aws'")


if __name__ == "__main__":  # `make ui`: print DAGSTER_HOME for FOCUS_HOME, creating it if absent
    print(local_dagster_home(local_home()))
