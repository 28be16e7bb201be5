"""The package as a team installs it: a wheel, not the checkout.

Everything the pipeline reads at run time (the SQL of sql/, the policy templates of docs/policies/,
the sample files) must ship inside the wheel, and the graph must run from a folder that has nothing
to do with the checkout. The wheel is built and installed, not editable, with its dependencies into
a fresh venv by the session fixture `wheel_venv` (installed_wheel.py says how, and why a real
`pip install` rather than a shortcut through the test venv's packages). The same day is then run
twice with `dagster asset materialize`: by the installed wheel from a temporary folder, and by the
editable checkout; the two DuckDB warehouses must hold the same relations with the same rows.

Cost: the fixture's build and install (once per session, shared with the deployment test), then
two runs of one delivery day, side by side.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest

from focus_assets.samples.alibaba import sample_deliveries, write_delivery
from focus_assets.sql_layer import NoSqlObjects, apply_to_duckdb, load_objects

from .installed_wheel import CHECKOUT, clean_environment, installed_wheel, working_tree_files

DAY = "2026-01-05"  # a delivery day of the sample export (sample_deliveries)


def _expected_in_wheel() -> dict[str, set[str]]:
    """What the wheel must hold, from the working tree, as paths inside the wheel: the package's
    files, and the two folders installed under other names (pyproject.toml)."""
    tree = working_tree_files()
    return {
        # Every module and data file of the package; C sources are compiled into the extension.
        "package": {name for name in tree if name.startswith("focus_assets/") and not name.endswith(".c")},
        "sql": {"focus_assets/sql/" + name.removeprefix("sql/") for name in tree if name.startswith("sql/")},
        "policies": {
            "focus_assets/policy_templates/" + name.removeprefix("docs/policies/")
            for name in tree
            if name.startswith("docs/policies/")
        },
    }


def test_the_wheel_carries_every_module_and_every_file_read_at_run_time(wheel_venv):
    with zipfile.ZipFile(installed_wheel(wheel_venv)) as wheel:
        shipped = set(wheel.namelist())
    expected = _expected_in_wheel()
    # Not vacuous: each kind of run-time file is among what the working tree says must ship.
    assert any(name.startswith("focus_assets/sql/views/") and name.endswith(".sql") for name in expected["sql"])
    assert any(name.startswith("focus_assets/sql/tables/") and name.endswith(".sql") for name in expected["sql"])
    assert any(name.endswith(".json") for name in expected["policies"])
    assert {name.rsplit("/", 1)[-1] for name in expected["package"] if name.startswith("focus_assets/samples/")} >= {
        "datacenter_focus_sample.csv",
        "FOCUS-Sample-Data_FOCUS-1.0_focus_sample.csv",
        "ATTRIBUTION.md",
    }
    for kind, names in expected.items():
        assert not sorted(names - shipped), f"{kind} files missing from the wheel: {sorted(names - shipped)}"
    assert not [name for name in shipped if name.startswith("focus_assets_tests/")]


def test_an_install_without_its_sql_fails_loudly(tmp_path):
    """Zero SQL objects is an error naming where it looked, not a pipeline that publishes nothing."""
    with pytest.raises(NoSqlObjects, match=re.escape(f"{tmp_path / 'tables'} has no .sql file")):
        load_objects(tmp_path)
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.sql").write_text("CREATE EXTERNAL TABLE t (a int) LOCATION 's3://b/t/'")
    with pytest.raises(NoSqlObjects, match=re.escape(f"{tmp_path / 'views'} has no .sql file")):
        load_objects(tmp_path)
    with duckdb.connect() as connection, pytest.raises(NoSqlObjects):
        apply_to_duckdb(connection, tmp_path / "lake", sql_dir=tmp_path)


def _start_day(dagster: Path, root: Path, cwd: Path) -> subprocess.Popen:
    """Write the sample export into root/home/oss and start one run of DAY over it."""
    home, instance = root / "home", root / "dagster"
    for folder in (home, instance, cwd):
        folder.mkdir(parents=True, exist_ok=True)
    for delivery in sample_deliveries():
        write_delivery(home / "oss", delivery)
    # The local deployment's defaults, whatever this shell has set.
    environment = {key: value for key, value in clean_environment().items() if not key.startswith("FOCUS_")}
    environment.update(FOCUS_HOME=str(home), DAGSTER_HOME=str(instance))
    return subprocess.Popen(
        [str(dagster), "asset", "materialize", "-m", "focus_assets.definitions", "--select", "*", "--partition", DAY],
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(run: subprocess.Popen, what: str) -> None:
    try:
        output, _ = run.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        run.kill()
        output, _ = run.communicate()
    assert run.returncode == 0, f"{what}: exit {run.returncode}\n{output[-5000:]}"


def _warehouse(database: Path) -> dict[str, list[tuple]]:
    """Every table and view of a DuckDB warehouse, with its rows in a stable order."""
    with duckdb.connect(str(database), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")
        names = [
            name
            for (name,) in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "UNION ALL SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal"
            ).fetchall()
        ]
        return {name: sorted(connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def test_the_installed_wheel_runs_the_graph_outside_the_checkout(wheel_venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"  # the working directory: neither the checkout nor the venv
    installed_run = _start_day(wheel_venv / "bin" / "dagster", tmp_path / "installed", elsewhere)
    editable_run = _start_day(Path(sys.executable).with_name("dagster"), tmp_path / "editable", CHECKOUT)
    _finish(installed_run, "the installed wheel's run")
    _finish(editable_run, "the editable checkout's run")

    installed = _warehouse(tmp_path / "installed" / "home" / "warehouse.duckdb")
    editable = _warehouse(tmp_path / "editable" / "home" / "warehouse.duckdb")
    # Every Alibaba object of sql/ and the unified view (no other source is configured here).
    published = {o.name for o in load_objects() if o.name.startswith("alibaba_") or o.name == "focus_unified"}
    assert published <= set(installed), f"not created by the installed wheel: {sorted(published - set(installed))}"
    assert set(installed) == set(editable)
    for name, rows in editable.items():
        assert rows, f"{name} is empty in the editable run: nothing to compare"
        assert installed[name] == rows, f"{name} differs between the installed wheel and the editable checkout"
    assert (tmp_path / "installed" / "home" / "reports" / "cost_report.html").is_file()
