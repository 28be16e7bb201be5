"""Small builders for export files in tests (write CSV text as .csv, .csv.gz or .zip), and the
Dagster webserver as the tests start and query it (GraphQL)."""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import importlib.util
import io
import os
import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import polars as pl

from focus_assets.focus.settings import TransformSettings
from focus_assets.focus.transform import ObjectReport, convert_object

# The columns a file must have to be read; tests add what they exercise.
BASE_HEADER = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BillingCurrency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
]
BASE_ROW = {
    "BillingPeriodStart": "2026-01-01 00:00:00",
    "BillingPeriodEnd": "2026-02-01 00:00:00",
    "ChargePeriodStart": "2026-01-05 00:00:00",
    "ChargePeriodEnd": "2026-01-06 00:00:00",
    "BillingCurrency": "CNY",
    "BilledCost": "1.25",
    "EffectiveCost": "1.00",
    "ListCost": "2.00",
}
KEY = "focus-export/202601/20260106T080000/1234_26842_BillingItemDetail_202601.csv"


def csv_text(rows: list[dict[str, str]], header: list[str] | None = None, *, crlf: bool = False) -> str:
    header = header or list(dict.fromkeys([*BASE_HEADER, *(k for r in rows for k in r)]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\r\n" if crlf else "\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**BASE_ROW, **row})
    return buffer.getvalue()


def write_export(path: Path, text: str | bytes | list[tuple[str, str | bytes]], *, bom: bool = False) -> Path:
    """Write `text` at `path`; its suffix chooses the format. For .zip, pass (member, text) pairs."""
    path.parent.mkdir(parents=True, exist_ok=True)

    def encode(value: str | bytes) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else value
        return (b"\xef\xbb\xbf" + data) if bom else data

    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for member, member_text in text:
                archive.writestr(member, encode(member_text))
    elif path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(encode(text), mtime=0))
    else:
        path.write_bytes(encode(text))
    return path


def convert_text(
    tmp_path: Path, text: str, *, key: str = KEY, settings: TransformSettings | None = None, **kwargs
) -> tuple[ObjectReport, pl.DataFrame, pl.DataFrame]:
    """Convert one CSV text; return the report, the typed rows and the quarantined rows."""
    source = write_export(tmp_path / "in" / key, text)
    report = convert_object(source, key, tmp_path / "out", settings or TransformSettings(), **kwargs)
    return report, read_outputs(report, "output"), read_outputs(report, "quarantine_output")


def read_outputs(report: ObjectReport, which: str) -> pl.DataFrame:
    paths = [getattr(m, which) for m in report.members if getattr(m, which)]
    return pl.concat([pl.read_parquet(p) for p in paths]) if paths else pl.DataFrame()


def digests(root: Path, pattern: str = "*") -> dict[str, str]:
    """The files under `root` matching `pattern` (hidden ones included), by content."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob(pattern))
        if p.is_file()
    }


# -- the Dagster webserver and its GraphQL API ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _load_stack_module():
    """deploy/dagster/stack.py (a script, not in the package): its process helpers, `graphql` and
    `wait_until`, are the tests' too."""
    spec = importlib.util.spec_from_file_location("focus_stack", ROOT / "deploy" / "dagster" / "stack.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


stack_module = _load_stack_module()
graphql = stack_module.graphql
wait_until = stack_module.wait_until

RUNS = """query Runs($filter: RunsFilter) { runsOrError(filter: $filter) { __typename
  ... on Runs { results { runId status jobName startTime endTime tags { key value } } }
  ... on PythonError { message } } }"""
MATERIALIZATIONS = """query Materializations($key: AssetKeyInput!, $partition: String!) { assetOrError(assetKey: $key) {
  __typename ... on Asset { assetMaterializations(partitions: [$partition]) { runId partition } } } }"""
CHECK_EXECUTIONS = """query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 50) { runId status } }"""
LOCATIONS = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


class DagsterGraphQL:
    """What the UI shows, asked as the UI asks: the webserver's GraphQL API at `url`."""

    def __init__(self, url: str, job: str | None = None):
        self.url = url
        self.job = job  # runs() lists this job's runs only, when set

    def query(self, text: str, **variables) -> dict:
        return graphql(self.url, text, variables)

    def runs(self) -> list[dict]:
        answer = self.query(RUNS, filter={"pipelineName": self.job} if self.job else {})["runsOrError"]
        assert answer["__typename"] == "Runs", answer
        return answer["results"]

    def materializing_runs(self, asset: str, partition: str) -> set[str]:
        answer = self.query(MATERIALIZATIONS, key={"path": [asset]}, partition=partition)["assetOrError"]
        assert answer["__typename"] == "Asset", answer
        return {m["runId"] for m in answer["assetMaterializations"]}

    def check_results(self, asset: str, check: str) -> dict[str, set[str]]:
        """The statuses of the check's executions, per run."""
        executions = self.query(CHECK_EXECUTIONS, key={"path": [asset]}, check=check)["assetCheckExecutions"]
        statuses = {}
        for execution in executions:
            statuses.setdefault(execution["runId"], set()).add(execution["status"])
        return statuses


def run_tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["tags"]}


def _default_interrupt():
    # A child of a shell's background job inherits SIGINT ignored: Ctrl-C's signal would not stop it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def dagster_webserver(
    dagster_home: Path, environment: dict[str, str], log: Path, workspace: Path = ROOT / "workspace.yaml"
):
    """`dagster-webserver` of this environment on a free port, serving `workspace` with the instance
    in `dagster_home`; yields a DagsterGraphQL once every code location has loaded. Stopped as
    Ctrl-C stops it (SIGINT to its process group), SIGKILL after 30 s."""
    port = stack_module.free_port()
    command = [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(workspace)]
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=workspace.parent,
            env={**environment, "DAGSTER_HOME": str(dagster_home)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_interrupt,
        )
    client = DagsterGraphQL(f"http://127.0.0.1:{port}")

    def locations_loaded():
        entries = client.query(LOCATIONS)["workspaceOrError"]["locationEntries"]
        failed = [
            e
            for e in entries
            if e["locationOrLoadError"] and e["locationOrLoadError"]["__typename"] != "RepositoryLocation"
        ]
        assert not failed, f"a code location failed to load: {failed}"
        return entries and all(e["loadStatus"] == "LOADED" for e in entries)

    try:
        wait_until(
            lambda: (
                b"dagster_webserver_version" in urllib.request.urlopen(f"{client.url}/server_info", timeout=5).read()
            ),
            "dagster-webserver",
            120,
            process,
            log,
        )
        wait_until(locations_loaded, "the code locations in the webserver", 120, process, log)
        yield client
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def export_sources_of(*stores, names: tuple[str, ...] = ("default",)):
    """ExportSources reading these stores (LocalFolderStore or OssStore), named in order: the
    resource a deployment builds from FOCUS_EXPORT_SOURCES, for a test's own buckets."""
    from focus_assets.resources.stores import ExportSources, ExportSourceStore, LocalFolderStore, OssStore

    def source(store, name: str) -> ExportSourceStore:
        if isinstance(store, LocalFolderStore):
            return ExportSourceStore(name=name, folder=str(Path(store.root) / store.prefix))
        assert isinstance(store, OssStore), store
        return ExportSourceStore(
            name=name,
            oss_endpoint=store.endpoint,
            oss_bucket=store.bucket,
            oss_prefix=store.prefix,
            access_key_id=store.access_key_id,
            access_key_secret=store.access_key_secret,
            security_token=store.security_token,
        )

    return ExportSources(sources=[source(store, name) for store, name in zip(stores, names, strict=True)])


def plan_of(store, settings, cursor, **kwargs):
    """The sensor's plan (alibaba.sensors.plan_runs) for one export bucket: a folder or OSS bucket
    read directly, or an S3 bucket read as the raw bucket of a push-mode source."""
    from focus_assets.alibaba.sensors import plan_runs
    from focus_assets.resources.stores import ExportSources, ExportSourceStore, S3Store

    if isinstance(store, S3Store):
        return plan_runs(ExportSources(sources=[ExportSourceStore()]), settings, cursor, raw_bucket=store, **kwargs)
    return plan_runs(export_sources_of(store), settings, cursor, **kwargs)
