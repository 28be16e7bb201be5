from focus_assets import demo


def test_the_demo_runs_end_to_end_and_reconciles(demo_run):
    out, home = demo_run.output, demo_run.home
    assert "equals the sum of the latest delivery's CSV text" in out
    assert out.count("reconciliation ok, schema_stability ok, focus_rules ok, table_schema ok, snapshot_sanity ok") == 4
    assert "202601  20260105T080000  CNY" in out  # the current snapshot is the latest delivery
    assert (home / "warehouse.duckdb").exists() and "view alibaba_untagged_share" in out
    assert len(list((home / "lake" / "focus_alibaba_normalized").rglob("*.parquet"))) == 7
    assert len(list((home / "lake" / "alibaba_deliveries").glob("*.parquet"))) == 5  # one per delivery
    assert "Every provider in one view" in out and "Datacenter     EUR" in out
    # and it shows what happens to damaged input
    assert "quarantined  line 7: BilledCost: not a number ('1,234.50')" in out
    assert "kept         line 20: Tags unparseable" in out
    assert "truncated.csv.gz: corrupt or truncated compressed data" in out


def test_the_demo_in_push_mode_shows_the_same_figures(demo_run, tmp_path, monkeypatch, capsys):
    """Push mode: the Function Compute stand-in copies into raw/, Dagster lists and verifies only
    there; every figure is the same as in pull mode (the session's demo run)."""
    monkeypatch.setenv("FOCUS_HOME", str(tmp_path))
    monkeypatch.setenv("FOCUS_INGESTION_MODE", "push")
    assert demo.main() == 0
    outputs = {"pull": demo_run.output, "push": capsys.readouterr().out}
    assert "Push mode: 5 objects copied into" in outputs["push"] and "Push mode" not in outputs["pull"]

    def figures(out: str) -> list[str]:  # every line with an amount, without the paths that differ
        return [
            line
            for line in out.splitlines()
            if ("CNY" in line or "USD" in line or "EUR" in line)
            and str(tmp_path) not in line
            and str(demo_run.home) not in line
        ]

    assert figures(outputs["push"]) == figures(outputs["pull"]) and len(figures(outputs["pull"])) > 15
