from focus_assets import demo


def test_the_demo_runs_end_to_end_and_reconciles(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FOCUS_HOME", str(tmp_path))
    assert demo.main() == 0
    out = capsys.readouterr().out
    assert "equals the sum of the latest delivery's CSV text" in out
    assert out.count("reconciliation ok, schema_stability WARN, focus_rules ok, table_schema ok, snapshot_sanity ok") == 4
    assert "202601  20260105T080000  CNY" in out  # the current snapshot is the latest delivery
    assert (tmp_path / "warehouse.duckdb").exists() and "view alibaba_untagged_share" in out
    assert len(list((tmp_path / "lake" / "focus_alibaba_normalized").rglob("*.parquet"))) == 7
    assert len(list((tmp_path / "lake" / "alibaba_deliveries").glob("*.parquet"))) == 5  # one per delivery
    assert "Every provider in one view" in out and "Datacenter     EUR" in out
    # and it shows what happens to damaged input
    assert "quarantined  line 7: BilledCost: not a number ('1,234.50')" in out
    assert "kept         line 20: Tags unparseable" in out
    assert "truncated.csv.gz: corrupt or truncated compressed data" in out
