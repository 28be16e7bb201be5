"""The docs cannot rot: every shell block in README.md and docs/*.md runs here, as written.

Each ```sh block runs as one bash script in a sandbox folder that looks like the project after
`make demo`: `.venv` is this interpreter's environment, `.focus` holds the demo's data, the `aws`
CLI talks to moto's server (AWS_ENDPOINT_URL), and DAGSTER_HOME is a temporary instance. Two
kinds of command are not run inside the block, only recorded and then checked against the test
that does run them: `make <target>` (MAKE_TARGETS names the test that runs each target's recipe)
and the long-running servers (the code server, `dagster-webserver` and `dagster-daemon run` of the
production deployment, which test_stack.py starts for real; `dagster dev`, which the screenshots
script's test starts).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from focus_assets.focus.normalize import typed_schema
from focus_assets.focus.settings import TransformSettings

from .local_aws import aws_and_oss, reset_moto

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

# Each make target the docs mention, and where its recipe is run.
MAKE_TARGETS = {
    "demo": "test_demo.py::test_the_demo_runs_end_to_end_and_reconciles",
    "demo-push": "test_demo.py::test_the_demo_in_push_mode_shows_the_same_figures",
    "test": ".ci/run",
    "install": ".ci/run",
    "bench": "test_docs.py::test_make_bench_runs_on_a_small_export",
    "ui": "test_cost_report.py::test_the_screenshots_script_pictures_the_lineage_and_the_report",
    "function-zip": "test_function_compute.py::test_the_package_holds_the_handler_and_its_modules_and_is_the_same_each_time",
    "screenshots": "test_cost_report.py::test_the_screenshots_script_pictures_the_lineage_and_the_report",
    "conformance": "test_conformance.py::test_no_failure_of_the_pipeline_output_is_attributed_to_the_pipeline",
    "stack": "test_stack.py::test_the_deployment_runs_live_deliveries_and_recovers_from_a_crash",
    "wheel": "test_stack.py::test_the_image_serves_the_code_location_as_the_stack_does",
}
# The servers' command lines in the docs, as run by test_the_servers_the_docs_start_come_up.
SERVER_COMMANDS = {
    # The production deployment's processes, as deploy/dagster/stack.py starts them for
    # test_stack.py (test_the_deploy_guide_starts_the_processes_the_stack_starts).
    "dagster code-server start -m focus_assets.definitions -h 0.0.0.0 -p 4000",
    "dagster-webserver -w deploy/dagster/workspace.yaml -h 0.0.0.0 -p 3000",
    "dagster-daemon run -w deploy/dagster/workspace.yaml",
}

_FENCE = re.compile(r"^\s*```(\w*)\s*$")


def fenced_blocks(language: str) -> list[tuple[str, int, str]]:
    """(file relative to the repo, line of the fence, text) of every block fenced as `language`."""
    blocks = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        start, opened = None, None
        for number, line in enumerate(lines, 1):
            match = _FENCE.match(line)
            if not match:
                continue
            if start is None:
                start, opened = number, match.group(1)
            else:
                if opened == language:
                    indent = len(lines[start - 1]) - len(lines[start - 1].lstrip())
                    body = "\n".join(text[indent:] for text in lines[start : number - 1])
                    blocks.append((doc.relative_to(ROOT).as_posix(), start, body + "\n"))
                start = None
    return blocks


SHELL_BLOCKS = fenced_blocks("sh")


def _test_exists(reference: str) -> bool:
    if reference == ".ci/run":  # CI runs `make test`, which installs first
        return "make test" in (ROOT / ".ci" / "run").read_text()
    file, name = reference.split("::")
    return f"def {name}(" in (ROOT / "focus_assets_tests" / file).read_text()


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, demo_run) -> Path:
    """The demo's data, as `make demo` leaves it in .focus/: a copy of the session's demo run,
    since the blocks may write in it (the warehouse's views still read the original's lake)."""
    home = tmp_path_factory.mktemp("demo") / ".focus"
    shutil.copytree(demo_run.home, home)
    return home


@pytest.fixture(scope="module")
def moto_endpoint():
    with aws_and_oss() as (endpoint, _):
        yield endpoint


def _clean_environment() -> dict[str, str]:
    return {
        name: value for name, value in os.environ.items() if not name.startswith(("FOCUS_", "OSS_", "AWS_", "DAGSTER_"))
    }


def _sandbox(tmp_path: Path, demo_home: Path, endpoint: str) -> tuple[Path, dict[str, str], Path]:
    """A folder that looks like the project after `make demo`, its environment, and the log the
    shims write to."""
    sandbox = tmp_path / "project"
    sandbox.mkdir()
    (sandbox / ".venv").symlink_to(Path(sys.prefix))
    (sandbox / ".focus").symlink_to(demo_home)
    for name in ("workspace.yaml", "pyproject.toml", "Makefile"):
        (sandbox / name).write_bytes((ROOT / name).read_bytes())
    log = tmp_path / "recorded.txt"
    shims = tmp_path / "shims"
    shims.mkdir()
    recorder = f'#!/bin/sh\necho "$(basename "$0") $*" >> {shlex.quote(str(log))}\n'
    for name in ("make", "dagster-webserver", "dagster-daemon"):
        (shims / name).write_text(recorder)
    # `dagster dev` and `dagster code-server` are servers: recorded; the other dagster commands run.
    (shims / "dagster").write_text(
        f'#!/bin/sh\nif [ "$1" = dev ] || [ "$1" = code-server ]; then echo "dagster $*" >> {shlex.quote(str(log))}; '
        "exit 0; fi\n"
        f'exec {shlex.quote(str(BIN / "dagster"))} "$@"\n'
    )
    for shim in shims.iterdir():
        shim.chmod(0o755)
    (tmp_path / "dagster_home").mkdir()
    environment = {
        **_clean_environment(),
        "PATH": f"{shims}:{BIN}:{os.environ['PATH']}",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    return sandbox, environment, log


def _run_block(text: str, sandbox: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text],
        cwd=sandbox,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


DOCUMENTS_WITH_SHELL = sorted({file for file, _, _ in SHELL_BLOCKS})


@pytest.mark.parametrize("document", DOCUMENTS_WITH_SHELL)
def test_every_shell_block_runs_as_written(document, tmp_path, demo_home, moto_endpoint):
    """A document's blocks run in order in one shell, as a reader following the page would (a
    variable exported in one block is set in the next)."""
    reset_moto(moto_endpoint)
    sandbox, environment, log = _sandbox(tmp_path, demo_home, moto_endpoint)
    blocks = [(line, text) for file, line, text in SHELL_BLOCKS if file == document]
    script = "".join(f'echo "@@ block at line {line}" >&2\n{text}' for line, text in blocks)
    result = _run_block(script, sandbox, environment)
    if result.returncode != 0:
        failed = int(re.findall(r"@@ block at line (\d+)", result.stderr)[-1])
        raise AssertionError(
            f"{document}:{failed} failed:\n{dict(blocks)[failed]}\n--- stdout\n{result.stdout}"
            f"\n--- stderr\n{result.stderr[-3000:]}"
        )
    for recorded in log.read_text().splitlines() if log.exists() else []:
        command, *arguments = recorded.split()
        if command == "make":
            target = next(a for a in arguments if "=" not in a)
            assert target in MAKE_TARGETS, f"{document}: `make {target}` is run by no test (MAKE_TARGETS)"
        else:
            assert recorded in SERVER_COMMANDS | {"dagster dev -w workspace.yaml"}, (
                f"{document}: `{recorded}` is started by no test (SERVER_COMMANDS)"
            )


def test_there_are_shell_blocks_in_the_readme_and_the_deployment_guide():
    files = {file for file, _, _ in SHELL_BLOCKS}
    assert {"README.md", "docs/deploy.md", "docs/security.md"} <= files


def test_make_ui_runs_what_the_screenshots_script_starts():
    """`make ui` is exercised through docs/screenshots.py, which starts the same `dagster dev`."""
    assert "$(BIN)/dagster dev -w workspace.yaml" in (ROOT / "Makefile").read_text()
    # Across line breaks: ruff format puts the command's list one item a line.
    assert re.search(r'"dev",\s*"-w",\s*"workspace.yaml"', (ROOT / "docs" / "screenshots.py").read_text())


def test_every_make_target_the_docs_name_exists_and_is_run_by_a_test():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    mentioned = {target for doc in DOCS for target in re.findall(r"\bmake ([a-z][a-z-]*)", doc.read_text())}
    assert mentioned, "the docs name no make target"
    assert mentioned <= targets, f"the docs name make targets the Makefile lacks: {sorted(mentioned - targets)}"
    assert mentioned <= set(MAKE_TARGETS), f"no test runs: {sorted(mentioned - set(MAKE_TARGETS))}"
    for target, reference in MAKE_TARGETS.items():
        assert target in targets and _test_exists(reference), (target, reference)


def test_the_deploy_guide_creates_what_the_pipeline_needs(tmp_path, demo_home, moto_endpoint):
    reset_moto(moto_endpoint)
    sandbox, environment, _ = _sandbox(tmp_path, demo_home, moto_endpoint)
    block = next(text for file, _, text in SHELL_BLOCKS if file == "docs/deploy.md" and "create-work-group" in text)
    result = _run_block(block, sandbox, environment)
    assert result.returncode == 0, result.stderr

    def client(service):
        return boto3.client(
            service,
            endpoint_url=moto_endpoint,
            region_name="eu-central-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    buckets = {b["Name"] for b in client("s3").list_buckets()["Buckets"]}
    assert {"finops-alibaba-raw", "finops-lake", "finops-athena-results"} <= buckets
    assert client("glue").get_database(Name="finops")["Database"]["Name"] == "finops"
    workgroup = client("athena").get_work_group(WorkGroup="finops-etl")["WorkGroup"]["Configuration"]
    assert workgroup["ResultConfiguration"]["OutputLocation"] == "s3://finops-athena-results/focus/"
    policies = {p["PolicyName"] for p in client("iam").list_policies(Scope="Local")["Policies"]}
    assert "focus-assets-pipeline" in policies
    assert "arn:aws:s3:::finops-lake/focus/*" in (sandbox / "pipeline.json").read_text()


def test_the_dagster_yaml_example_is_a_valid_instance(tmp_path):
    from dagster import DagsterInstance

    blocks = [text for file, _, text in fenced_blocks("yaml") if file == "docs/deploy.md"]
    assert len(blocks) == 1
    (tmp_path / "dagster.yaml").write_text(blocks[0])
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert (
            instance.run_coordinator.get_run_queue_config().max_concurrent_runs
            == yaml.safe_load(blocks[0])["run_coordinator"]["config"]["max_concurrent_runs"]
        )
        assert instance.run_retries_enabled


def _docs_script(name: str):
    """A script of docs/ as a module (they are run by `make`, not installed)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_make_bench_runs_on_a_small_export(tmp_path):
    recipe = re.search(r"^bench:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert recipe == "$(BIN)/python benchmarks/transform.py"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/transform.py",
            "--rows",
            "2000",
            "--repeat",
            "1",
            "--stages",
            "--per-core",
            "--shape",
            "plain",
            "--shape",
            "quoted",
            "--data",
            str(tmp_path / "data"),
            "--results",
            str(tmp_path / "results"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for engine in ("focus-assets convert", "convert, polars reader", "polars copy", "duckdb copy"):
        assert engine in result.stdout
    assert "parse + encode alone" in result.stdout and "the copies on one thread" in result.stdout
    assert "the C reader saves" in result.stdout
    results = json.loads((tmp_path / "results" / "transform-2000.json").read_text())
    assert set(results["shapes"]) == {"plain", "quoted"} and len(results["load_average_before"]) == 3
    results = results["shapes"]["plain"]
    stages = results["stages_cpu_seconds_one_thread"]
    assert {"decompress and cut", "parse", "type", "encode", "polars copy", "duckdb copy"} <= stages.keys()
    assert "encoding each kind of output column" in result.stdout
    by_kind = stages["encode by kind of column"]  # every output column in exactly one kind
    assert sum(int(re.search(r"\((\d+)\)$", kind).group(1)) for kind in by_kind) == len(
        typed_schema(TransformSettings())
    )
    assert {"decimal (8)", "datetime (4)", "map (2)"} <= by_kind.keys()
    one_core = results["medians"]["convert on 1 core"]
    assert one_core["parquet_mb"] == results["medians"]["focus-assets convert"]["parquet_mb"]  # the same work
    assert results["medians"]["convert, polars reader"]["parquet_mb"] == one_core["parquet_mb"]
    assert {run["rows"] for run in results["medians"].values()} == {2000}  # every engine read every row
    assert one_core["cpu_seconds"] <= one_core["seconds"] + 0.02  # on one core: never more CPU than wall time
    assert results["per_core"]["rows_per_second_one_core"] == round(2000 / one_core["seconds"])


def test_the_sql_contract_page_is_what_the_views_are(demo_home):
    """docs/sql-contract.md is generated from sql/ and the schema module over the demo's warehouse
    (`docs/sql_contract.py`); it must be regenerated when a view or a column changes."""
    expected = _docs_script("sql_contract").render(demo_home / "warehouse.duckdb")
    assert (ROOT / "docs" / "sql-contract.md").read_text() == expected, (
        "docs/sql-contract.md is stale: run `.venv/bin/python docs/sql_contract.py` after `make demo`"
    )


def test_the_performance_page_shows_the_committed_results():
    """docs/performance.md's tables are benchmarks/report.py's, printed from benchmarks/results/:
    a benchmark run that changes a figure changes the page, or this fails."""
    spec = importlib.util.spec_from_file_location("report", ROOT / "benchmarks" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    page = (ROOT / "docs" / "performance.md").read_text()
    for heading, table in report.TABLES.items():
        section = page.split(f"\n## {heading}\n", 1)
        assert len(section) == 2, f"docs/performance.md has no section '{heading}'"
        assert table() in section[1].split("\n## ", 1)[0], (
            f"docs/performance.md, '{heading}': not the table of benchmarks/results/ (python benchmarks/report.py)"
        )
