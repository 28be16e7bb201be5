"""The Dagster graph on the embedded (local) deployment: definitions load, and the six assets
materialize partition by partition, with the same result when run again."""

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import local_dagster_home, local_resources, write_local_sources
from focus_assets.focus.names import UnsafeNameError
from focus_assets.samples.alibaba import sample_deliveries, write_delivery
from focus_assets.samples.providers import write_sample_sources
from focus_assets.sql_layer import SourceTable

from .helpers import digests


def test_the_definitions_load():
    from focus_assets.definitions import defs

    job = defs.resolve_job_def("alibaba_daily")
    assert {n.name for n in job.graph.node_defs} == {a.op.name for a in ASSETS} | {"cost_report"}
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_oss_export",
        "raw_s3_csv",
        "typed_focus_parquet",
        "athena_table",
        "provider_views",
        "unified_focus_view",
        "cost_report",
    }
    # the local deployment's engine is DuckDB (test_aws_deployment: athena, glue and s3 on aws)
    assert graph.get(dg.AssetKey("athena_table")).kinds == {"duckdb"}
    assert graph.get(dg.AssetKey("provider_views")).kinds == {"sql", "duckdb"}


def test_a_days_run_is_one_chain_of_steps_in_one_process():
    """Why the definitions choose the in-process executor: a day's assets form a single chain, so
    a process per step would run nothing in parallel and pay an interpreter start per step. A
    branch added to the graph fails this test: then the choice needs a second look."""
    from focus_assets.definitions import defs

    job = defs.resolve_job_def("alibaba_daily")
    assert job.executor_def is dg.in_process_executor
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.get_all_asset_keys() if k.to_user_string() in {n.name for n in job.graph.node_defs}]
    heads = [k for k in keys if not graph.get(k).parent_keys]
    assert len(heads) == 1
    chain = heads
    while children := graph.get(chain[-1]).child_keys:
        assert len(children) == 1, f"{chain[-1].to_user_string()} feeds {len(children)} assets"
        chain.append(next(iter(children)))
    assert len(chain) == len(keys)


def test_dg_check_defs_passes():
    dg_command = Path(sys.executable).parent / "dg"
    result = subprocess.run(
        [str(dg_command), "check", "defs"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_the_maintenance_job_reregisters_the_partitions(home):
    resources = local_resources(home)
    materialize_day(resources, "2026-01-05")
    from focus_assets.alibaba.maintenance import maintenance

    result = maintenance.execute_in_process(resources={"warehouse": resources["warehouse"], "lake": resources["lake"]})
    assert result.success
    rows = resources["warehouse"].query(
        "SELECT count(*) FROM focus_alibaba_normalized WHERE batch_ts = '20260105T080000'"
    )
    assert rows == [(240,)]


def materialize_day(resources, day):
    result = dg.materialize(ASSETS, partition_key=day, resources=resources)
    assert result.success
    return {
        e.asset_key.to_user_string(): {
            k: v.value for k, v in e.materialization.metadata.items() if k not in ("dagster/column_schema",)
        }
        for e in result.get_asset_materialization_events()
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("focus-home")
    for delivery in sample_deliveries():
        write_delivery(home / "oss", delivery)
    return home


def test_two_delivery_days_materialize_and_a_rerun_gives_the_same_result(home):
    resources = local_resources(home)
    first = {day: materialize_day(resources, day) for day in ("2026-01-03", "2026-01-05")}
    assert first["2026-01-03"]["raw_oss_export"]["objects"] == 2  # December's final file and a January snapshot
    assert first["2026-01-03"]["raw_s3_csv"]["copied"] == 2
    assert first["2026-01-03"]["typed_focus_parquet"]["dagster/row_count"] == 1860 + 120
    assert first["2026-01-03"]["typed_focus_parquet"]["billing months"] == ["202512", "202601"]
    assert first["2026-01-05"]["typed_focus_parquet"]["dagster/row_count"] == 240
    current = first["2026-01-05"]["provider_views"]["current BilledCost per month and currency"]
    assert sorted(current) == ["202512 CNY", "202512 USD", "202601 CNY", "202601 USD"]
    # the figures a person follows are numbers too (the UI's Plots), equal to the exact text beside them
    typed = first["2026-01-05"]["typed_focus_parquet"]
    for currency, text in typed["BilledCost per currency"].items():
        assert isinstance(typed[f"BilledCost {currency}"], float)
        assert typed[f"BilledCost {currency}"] == float(Decimal(text))
    assert isinstance(typed["rows quarantined"], int) and typed["rows read"] == typed["dagster/row_count"]
    views = first["2026-01-05"]["provider_views"]
    for currency in ("CNY", "USD"):
        months = [Decimal(v) for k, v in current.items() if k.endswith(currency)]
        assert views[f"current BilledCost {currency}"] == float(sum(months))
    lake = digests(home / "lake", "*.parquet")

    again = {day: materialize_day(resources, day) for day in ("2026-01-03", "2026-01-05")}
    assert again["2026-01-03"]["raw_s3_csv"]["copied"] == 0  # same size and ETag: skipped
    assert again["2026-01-03"]["raw_s3_csv"]["skipped (same size and ETag)"] == 2
    assert digests(home / "lake", "*.parquet") == lake  # byte for byte
    for day in first:
        for asset in ("raw_oss_export", "typed_focus_parquet", "athena_table"):
            assert again[day][asset] == first[day][asset], (day, asset)
    # the views show the whole current state: the same once both days are in
    for asset in ("provider_views", "unified_focus_view"):
        assert again["2026-01-05"][asset] == first["2026-01-05"][asset]


def test_the_current_view_follows_the_latest_delivery(home):
    """Materializing an earlier day after a later one does not bring its snapshot back."""
    resources = local_resources(home)
    materialize_day(resources, "2026-01-05")
    materialize_day(resources, "2026-01-02")
    rows = resources["warehouse"].query("SELECT DISTINCT yearmonth, batch_ts FROM alibaba_focus ORDER BY 1")
    assert rows == [("202512", "20260103T100000"), ("202601", "20260105T080000")]


def test_an_object_that_cannot_be_placed_is_reported_not_dropped(tmp_path):
    write_delivery(tmp_path / "oss", sample_deliveries()[1])
    bad = tmp_path / "oss" / "focus-export" / "202601" / "20261399T000000" / "bill.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("BilledCost\n1\n")
    meta = materialize_day(local_resources(tmp_path), "2026-01-02")["raw_oss_export"]
    assert meta["objects"] == 1
    [note] = meta["objects not placed (no delivery stamp, or key refused)"]
    assert "20261399T000000" in note


@pytest.mark.parametrize("key", ["../outside.csv", "a/../../outside.csv", "/etc/passwd", "a/./b.csv", "a\\..\\b.csv"])
def test_the_local_folder_store_refuses_keys_that_lead_out_of_it(tmp_path, key):
    store = local_resources(tmp_path)["raw_bucket"].get_bucket()
    source = tmp_path / "source.csv"
    source.write_text("BilledCost\n1\n")
    with pytest.raises(UnsafeNameError, match="is refused"):
        store.upload(source, key)
    with pytest.raises(UnsafeNameError, match="is refused"):
        store.head(key)
    assert not (tmp_path / "outside.csv").exists()


def test_a_run_never_reads_the_lakes_files_to_list_them(tmp_path, monkeypatch):
    """The lake grows every day: listing its partitions must not hash (read) every file in it,
    or each run would cost more than the one before."""
    from focus_assets.storage import local

    for delivery in sample_deliveries():
        write_delivery(tmp_path / "oss", delivery)
    resources = local_resources(tmp_path)
    materialize_day(resources, "2026-01-03")
    hashed = []
    real_md5 = local.md5_of
    monkeypatch.setattr(local, "md5_of", lambda path: hashed.append(path) or real_md5(path))
    materialize_day(resources, "2026-01-05")
    assert hashed and not [p for p in hashed if (tmp_path / "lake") in p.parents]  # export objects only


def test_the_local_sources_are_read_from_focus_home_by_every_process(tmp_path):
    """FOCUS_HOME/sources.json configures the other providers for any process that builds the
    resources (the demo, `make ui`, the CLI); a relative path is from FOCUS_HOME."""
    assert local_resources(tmp_path)["warehouse"].sources() == {}  # no file: Alibaba alone
    sources = write_sample_sources(tmp_path / "sources")
    file = write_local_sources(tmp_path, sources)
    assert json.loads(file.read_text())["azure"] == {"table": "azure_focus", "path": "sources/azure/focus.csv"}
    assert local_resources(tmp_path)["warehouse"].sources() == {
        name: SourceTable(s.table, s.path.resolve()) for name, s in sources.items()
    }
    file.write_text(json.dumps({"gcp": {"table": "gcp_focus", "path": "x.parquet"}}))
    with pytest.raises(ValueError, match="unknown adapter 'gcp'"):
        local_resources(tmp_path)
    file.write_text(json.dumps({"azure": {"table": "azure; DROP", "path": "x.csv"}}))
    with pytest.raises(UnsafeNameError):
        local_resources(tmp_path)


def test_the_local_dagster_home_is_written_once_and_is_a_valid_instance(tmp_path):
    folder = local_dagster_home(tmp_path)
    assert folder == tmp_path.resolve() / "dagster"
    with dg.DagsterInstance.from_config(str(folder)) as instance:
        assert not instance.telemetry_enabled and instance.root_directory == str(folder)
    (folder / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")  # someone's own settings are kept
    local_dagster_home(tmp_path)
    assert "enabled: true" in (folder / "dagster.yaml").read_text()
