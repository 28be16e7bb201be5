"""The production deployment of deploy/dagster, run here as `make stack` runs it: PostgreSQL, the
code location as a gRPC code server from the installed wheel, the webserver and the daemon, each
a process of its own (deploy/dagster/stack.py starts them, for this test and for a person).

The sensor is switched on through the webserver's GraphQL API, and deliveries stamped in present
time (Asia/Shanghai) arrive one after another in the export folder: each is run by the daemon
from the queue, and the views show exactly the latest delivery's figures, summed from its CSV.
Then the daemon and the code server are killed (SIGKILL, with the run they were running, as when
their containers die) while a run is typing a larger delivery, and started again: run monitoring
ends the interrupted run and a run retry finishes the day, after which the views, the ledger and
the table are exactly what the deliveries hold, each delivery published once. GraphQL shows the
runs, the materializations and the check results throughout.

PostgreSQL is Debian's `postgresql` package (.ci/run installs it); the test makes a private
cluster with initdb in a temporary folder. As root (CI), initdb and postgres run as the
`postgres` user.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
import yaml

from focus_assets.samples.alibaba import ACCOUNTS, SampleDelivery, write_delivery, write_large_export

from . import installed_wheel
from .helpers import DagsterGraphQL, run_tags, stack_module, wait_until
from .test_docs import fenced_blocks

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "dagster"
SOURCE_TIMEZONE = ZoneInfo("Asia/Shanghai")  # Alibaba's: delivery stamps and days are in it
JOB = "alibaba_daily"
SENSOR = "new_alibaba_deliveries"
PARTITIONED_ASSETS = (
    "raw_oss_export",
    "raw_s3_csv",
    "typed_focus_parquet",
    "athena_table",
    "provider_views",
    "unified_focus_view",
)
MONEY = ("BilledCost", "EffectiveCost", "ListCost")
# Short sensor intervals, so that a delivery is run seconds after it lands.
SETTINGS = {"FOCUS_SETTLE_SECONDS": "5", "FOCUS_SENSOR_INTERVAL_SECONDS": "2"}
SMALL_ROWS_PER_DAY = (20, 21, 22)  # three deliveries of different sizes, each told apart by its figures
LARGE_ROWS = 300_000  # enough for typed_focus_parquet to be caught in progress
# The runtime limit given to the interrupted run (see exercise): passed by the time the daemon is
# back, and long enough for the test to lift it on the retry before the retry could exceed it.
INTERRUPTED_RUN_LIMIT_SECONDS = 20
RUN_SECONDS = 240  # the most any run here may take, queue included, on a loaded machine


RUN = """query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status stepStats { stepKey status } } } }"""
START_SENSOR = """mutation Start($selector: SensorSelector!) { startSensor(sensorSelector: $selector) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""


@dataclass(frozen=True)
class Delivered:
    """A delivery put in the export bucket: its stamp and what its CSV holds, per currency."""

    month: str
    stamp: str
    rows: int
    figures: dict[str, tuple]  # currency -> (rows, BilledCost, EffectiveCost, ListCost)


def csv_figures(path: Path) -> dict[str, tuple]:
    """Rows and money per currency, summed exactly from the delivered CSV text."""
    with gzip.open(path) as text:
        frame = pl.read_csv(text.read(), infer_schema=False)
    sums = (
        frame.with_columns([pl.col(name).cast(pl.Decimal(38, 10)) for name in MONEY])
        .group_by("BillingCurrency")
        .agg(pl.len().alias("rows"), *[pl.col(name).sum() for name in MONEY])
    )
    return {row[0]: (row[1], *row[2:]) for row in sums.iter_rows()}


@dataclass(frozen=True)
class Prepared:
    """An export file written ahead, waiting to be delivered, and what its CSV holds."""

    path: Path
    figures: dict[str, tuple]


def prepare_small(staging: Path, month: str, through_day: int, rows_per_day: int, seed: int) -> Prepared:
    sample = SampleDelivery(f"small-{seed}.csv.gz", month, "", through_day)
    path = write_delivery(staging, sample, rows_per_day=rows_per_day, seed=seed)
    return Prepared(path, csv_figures(path))


def prepare_large(staging: Path, month: str, rows: int, seed: int) -> Prepared:
    staging.mkdir(parents=True, exist_ok=True)
    path = write_large_export(staging / f"large-{seed}.csv.gz", rows, billing_month=month, seed=seed)
    return Prepared(path, csv_figures(path))


def deliver(home: Path, prepared: Prepared) -> Delivered:
    """The prepared file delivered now: stamped with the present time (Asia/Shanghai) and moved
    into the export bucket at once, as an upload appears whole."""
    now = datetime.now(SOURCE_TIMEZONE)
    month, stamp = f"{now:%Y%m}", f"{now:%Y%m%dT%H%M%S}"
    account, site = ACCOUNTS[0][0], ACCOUNTS[0][4]
    target = home / "oss" / f"focus-export/{month}/{stamp}/{account}_{site}_BillingItemDetail_{month}.csv.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(prepared.path, target)
    return Delivered(month, stamp, sum(f[0] for f in prepared.figures.values()), prepared.figures)


def views(home: Path) -> dict:
    """What the warehouse shows, read once no run is writing to it."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:

        def per_currency(view):
            rows = connection.sql(
                f"SELECT BillingCurrency, count(*), {', '.join(f'sum({m})' for m in MONEY)} FROM {view} GROUP BY 1"
            ).fetchall()
            return {row[0]: tuple(row[1:]) for row in rows}

        return {
            "alibaba_focus": per_currency("alibaba_focus"),
            "focus_unified": per_currency("focus_unified"),
            "ledger": sorted(connection.sql("SELECT yearmonth, batch_ts FROM alibaba_deliveries").fetchall()),
            "table": dict(
                connection.sql("SELECT batch_ts, count(*) FROM focus_alibaba_normalized GROUP BY 1").fetchall()
            ),
        }


def assert_views_are(home: Path, delivered: list[Delivered]) -> None:
    """The views show the latest delivery exactly; the ledger has each delivery once; the table
    holds every delivery whole, once."""
    shown = views(home)
    latest = delivered[-1]
    assert shown["alibaba_focus"] == latest.figures, "alibaba_focus is not the latest delivery's CSV"
    assert shown["focus_unified"] == latest.figures, "focus_unified is not the latest delivery's CSV"
    assert shown["ledger"] == sorted((d.month, d.stamp) for d in delivered), (
        "the ledger has a delivery twice or not at all"
    )
    assert shown["table"] == {d.stamp: d.rows for d in delivered}, "a delivery is in the table twice or in part"


class Topology(DagsterGraphQL):
    """The running stack as the test sees it: GraphQL queries and the daemon's runs of the job."""

    def __init__(self, stack):
        super().__init__(stack.url, job=JOB)
        self.stack = stack
        self.selector = {"repositoryLocationName": stack_module.LOCATION, "repositoryName": "__repository__"}

    def run(self, run_id: str) -> dict:
        return self.query(RUN, runId=run_id)["runOrError"]

    def start_sensor(self) -> None:
        started = self.query(START_SENSOR, selector={**self.selector, "sensorName": SENSOR})["startSensor"]
        assert started["__typename"] == "Sensor" and started["sensorState"]["status"] == "RUNNING", started

    def new_run(self, known: set[str]) -> dict:
        """The first run of the job not in `known`."""
        return wait_until(
            lambda: next((r for r in self.runs() if r["runId"] not in known), None),
            "a run requested by the sensor",
            RUN_SECONDS,
        )

    def finished(self, run_id: str) -> dict:
        return wait_until(
            lambda: next(
                (r for r in self.runs() if r["runId"] == run_id and r["status"] in ("SUCCESS", "FAILURE", "CANCELED")),
                None,
            ),
            f"run {run_id} to finish",
            RUN_SECONDS,
        )


def passed_in(results: dict[str, set[str]], run_id: str) -> bool:
    return results.get(run_id) == {"SUCCEEDED"}


def clean_environment() -> dict[str, str]:
    """This environment without what would make the wheel's venv import from elsewhere, nor any
    deployment's settings (the stack runs `local`)."""
    return {
        name: value
        for name, value in installed_wheel.clean_environment().items()
        if not name.startswith(("FOCUS_", "OSS_", "AWS_"))
    }


def run_delivery(topology: Topology, home: Path, prepared: Prepared, delivered: list[Delivered]) -> dict:
    """Deliver, wait for the sensor's run and its end; returns the run."""
    known = {r["runId"] for r in topology.runs()}
    delivered.append(deliver(home, prepared))
    run = topology.new_run(known)
    return topology.finished(run["runId"])


@pytest.fixture
def postgres_folder():
    """A folder for the private cluster that the postgres user can reach when the test runs as root
    (pytest's own temporary folders are closed to other users)."""
    folder = Path(tempfile.mkdtemp(prefix="focus-stack-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_the_deployment_runs_live_deliveries_and_recovers_from_a_crash(tmp_path, wheel_venv, postgres_folder):
    now = datetime.now(SOURCE_TIMEZONE)
    home, staging = tmp_path / "home", tmp_path / "staging"
    stack = stack_module.Stack(
        home=home,
        venv=wheel_venv,
        state=tmp_path / "stack",
        postgres_folder=postgres_folder,
        environment={**SETTINGS, "FOCUS_START_MONTH": f"{now:%Y-%m}"},
        base_environment=clean_environment(),
    )
    started = time.monotonic()
    # The export files are written while the stack starts; each is stamped when it is delivered.
    with ThreadPoolExecutor(1) as writer:
        small = [
            writer.submit(prepare_small, staging, f"{now:%Y%m}", now.day, rows_per_day, seed)
            for seed, rows_per_day in enumerate(SMALL_ROWS_PER_DAY, start=1)
        ]
        large = writer.submit(prepare_large, staging, f"{now:%Y%m}", LARGE_ROWS, seed=len(small) + 1)
        with stack:
            try:
                exercise(stack, home, [f.result() for f in small], large.result())
            except BaseException:
                print(f"--- the processes' logs after {time.monotonic() - started:.0f} s{stack.logs_text()}")
                raise
    print(f"the stack's scenario took {time.monotonic() - started:.0f} s")
    password = stack.postgres.password
    for path in stack.state.rglob("*"):
        if path.is_file() and path.name != "postgres.password":
            assert password.encode() not in path.read_bytes(), f"the PostgreSQL password is in {path}"


def exercise(stack, home: Path, small: list[Prepared], large: Prepared) -> None:
    topology = Topology(stack)
    wait_until(
        lambda: all(
            d["healthy"]
            for d in topology.query("{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")[
                "instance"
            ]["daemonHealth"]["allDaemonStatuses"]
        ),
        "the daemon's heartbeats",
        120,
    )
    topology.start_sensor()
    day = datetime.now(SOURCE_TIMEZONE).strftime("%Y-%m-%d")

    # Three deliveries, one after another: each is run by the daemon, and the views follow.
    delivered: list[Delivered] = []
    runs = []
    for prepared in small:
        run = run_delivery(topology, home, prepared, delivered)
        assert run["status"] == "SUCCESS", run
        assert run_tags(run).get("dagster/sensor_name") == SENSOR and run_tags(run).get("dagster/partition") == day, run
        runs.append(run["runId"])
        assert_views_are(home, delivered)
    assert [r["runId"] for r in topology.runs()] == runs[::-1], "a delivery was run more than once"
    for asset in PARTITIONED_ASSETS:
        assert topology.materializing_runs(asset, day) == set(runs), asset
    reconciliations = topology.check_results("typed_focus_parquet", "reconciliation")
    assert all(passed_in(reconciliations, run_id) for run_id in runs), reconciliations
    schemas = topology.check_results("athena_table", "table_schema")
    assert all(passed_in(schemas, run_id) for run_id in runs), schemas

    # A larger delivery; while its run types it, the daemon and the code server die, and the run
    # with them (its process is the code server's child, as in one container).
    known = {r["runId"] for r in topology.runs()}
    delivered.append(deliver(home, large))
    interrupted = topology.new_run(known)["runId"]

    def typing():
        status = {s["stepKey"]: s["status"] for s in topology.run(interrupted)["stepStats"]}.get("typed_focus_parquet")
        assert status in (None, "IN_PROGRESS"), f"typed_focus_parquet ended ({status}) before it could be interrupted"
        return status == "IN_PROGRESS"

    wait_until(typing, "typed_focus_parquet in progress", RUN_SECONDS, pause=0.2)
    stack.kill("daemon")
    stack.kill("code-server")
    assert topology.run(interrupted)["status"] == "STARTED", "the run ended before the crash"
    # Dagster's default run launcher cannot tell that a run's process died: run monitoring fails
    # such a run only once it exceeds its runtime limit, the run's tag dagster/max_runtime (else
    # the instance's max_runtime_seconds, an hour). The test gives the dead run a short one, and
    # its retry, which inherits the tag, a normal one again as soon as it exists.
    set_runtime_limit(stack, interrupted, INTERRUPTED_RUN_LIMIT_SECONDS)
    stack.start_process("code-server")
    stack.start_process("daemon")

    retry = wait_until(
        lambda: next((r for r in topology.runs() if run_tags(r).get("dagster/parent_run_id") == interrupted), None),
        "the run retry",
        RUN_SECONDS,
    )
    set_runtime_limit(stack, retry["runId"], RUN_SECONDS)
    ended = topology.finished(interrupted)
    assert ended["status"] == "FAILURE", ended
    retry = topology.finished(retry["runId"])
    assert retry["status"] == "SUCCESS", retry
    assert run_tags(retry).get("dagster/retry_number") == "1" and run_tags(retry).get("dagster/partition") == day, retry
    assert {r["runId"] for r in topology.runs()} == {*runs, interrupted, retry["runId"]}
    assert_views_are(home, delivered)
    assert interrupted not in topology.materializing_runs("typed_focus_parquet", day), "the crash came too late"
    for asset in PARTITIONED_ASSETS[2:]:
        assert retry["runId"] in topology.materializing_runs(asset, day), asset
    assert passed_in(topology.check_results("typed_focus_parquet", "reconciliation"), retry["runId"])


def set_runtime_limit(stack, run_id: str, seconds: int) -> None:
    """Give the run a runtime limit (the tag dagster/max_runtime) through the instance."""
    import dagster as dg

    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.postgres.environment().items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(stack.dagster_home)) as instance:
            instance.add_run_tags(run_id, {"dagster/max_runtime": str(seconds)})


# What is not run above, and could drift from what is: the image (no Docker engine runs here,
# so it is not built), the deployment guide's commands, `make stack`, and the ECS instance.


def test_the_image_serves_the_code_location_as_the_stack_does(wheel_venv):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    command = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert command == ["dagster", *stack_module.code_server_arguments("0.0.0.0", 4000)]
    assert re.search(r"^EXPOSE 4000$", dockerfile, re.M)
    # It installs the wheel `make wheel` builds, as the tests build it, on the Python it was built for.
    recipe = re.search(r"^wheel:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(BIN)/python -m pip wheel --no-deps --wheel-dir dist ."
    assert '"pip", "wheel", "--no-deps"' in (ROOT / "focus_assets_tests" / "installed_wheel.py").read_text()
    assert re.search(r"^COPY dist/focus_assets-\*\.whl ", dockerfile, re.M)
    python_tag = installed_wheel.installed_wheel(wheel_venv).name.split("-")[2]
    base = re.search(r"^FROM python:(\d+)\.(\d+)-", dockerfile, re.M)
    assert python_tag in (f"cp{base[1]}{base[2]}", "py3"), (python_tag, base[0])
    for name in ("dagster.yaml", "workspace.yaml"):
        assert re.search(rf"^COPY deploy/dagster/{name} ", dockerfile, re.M), name


def test_the_deploy_guide_starts_the_processes_the_stack_starts(tmp_path):
    """The guide's command lines are the stack's, with the guide's addresses; test_docs.py records
    them instead of running them (SERVER_COMMANDS), and `make stack` runs the stack."""
    from .test_docs import MAKE_TARGETS, SERVER_COMMANDS

    stack = stack_module.Stack(home=tmp_path / "home", venv=Path(sys.prefix), state=tmp_path / "stack")
    addresses = {
        "127.0.0.1": "0.0.0.0",
        str(stack.code_server_port): "4000",
        str(stack.web_port): "3000",
        str(stack_module.WORKSPACE_YAML): "deploy/dagster/workspace.yaml",
    }
    guide = (ROOT / "docs" / "deploy.md").read_text()
    for name, command in stack.commands().items():
        line = " ".join([Path(command[0]).name, *(addresses.get(part, part) for part in command[1:])])
        assert line in guide, f"docs/deploy.md does not start the {name} as the stack does: {line}"
        assert line in SERVER_COMMANDS, line
    recipe = re.search(r"^stack:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(BIN)/python deploy/dagster/stack.py"
    assert MAKE_TARGETS["stack"].endswith("::test_the_deployment_runs_live_deliveries_and_recovers_from_a_crash")


def test_the_instance_files_are_valid_and_agree(monkeypatch):
    """dagster.yaml (run here) and dagster-ecs.yaml (not: no ECS here) are valid instances, equal
    but for the launcher and its monitoring; the guide's example is dagster.yaml's."""
    from dagster import Shape
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster_aws.ecs import EcsRunLauncher

    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    here, ecs = (yaml.safe_load((DEPLOY / name).read_text()) for name in ("dagster.yaml", "dagster-ecs.yaml"))
    for config in (here, ecs):
        checked = process_config(Shape(dagster_instance_config_schema()), config)
        assert checked.success, checked.errors
    checked = process_config(EcsRunLauncher.config_type(), ecs["run_launcher"]["config"])
    assert checked.success, checked.errors
    assert ecs["run_launcher"]["class"] == "EcsRunLauncher" and here["run_launcher"]["class"] == "DefaultRunLauncher"
    assert {k: v for k, v in here.items() if k not in ("run_launcher", "run_monitoring")} == {
        k: v for k, v in ecs.items() if k not in ("run_launcher", "run_monitoring")
    }
    assert here["run_monitoring"]["enabled"] and ecs["run_monitoring"]["enabled"]
    assert here["run_retries"]["enabled"] and here["run_retries"]["max_retries"] > 0
    assert "password" not in json.dumps(here).replace('"password": {"env": "DAGSTER_PG_PASSWORD"}', "")
    [example] = [yaml.safe_load(text) for file, _, text in fenced_blocks("yaml") if file == "docs/deploy.md"]
    assert example == {key: here[key] for key in example}, "docs/deploy.md's dagster.yaml example differs from the file"
