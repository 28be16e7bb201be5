"""`focus-assets convert` from outside, as a user runs it."""

import json
import subprocess
import sys
from datetime import UTC
from decimal import Decimal

import polars as pl

from focus_assets.samples.alibaba import sample_deliveries, write_delivery

from .helpers import csv_text, write_export


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "focus_assets.cli", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_convert_a_directory_prints_the_reconciliation_as_json(tmp_path):
    for delivery in sample_deliveries()[:2]:
        write_delivery(tmp_path / "oss", delivery)
    result = run(tmp_path / "oss", "--out", tmp_path / "lake")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [o["batch_ts"] for o in report["objects"]] == ["20260103T100000", "20260103T100000", "20260102T050000"]
    assert report["objects"][0]["object"].startswith("focus-export/202512/20260103T100000/")
    total = report["total"]
    assert total["reconciled"] and total["rows"]["read"] == total["rows"]["written"] == 1920
    assert Decimal(total["money"]["CNY"]["BilledCost"]["read"]) == Decimal(
        total["money"]["CNY"]["BilledCost"]["written"]
    )
    assert len(list((tmp_path / "lake" / "focus_alibaba_normalized").rglob("*.parquet"))) == 3


def test_typing_threads_change_the_speed_not_the_result(tmp_path):
    for delivery in sample_deliveries()[:2]:
        write_delivery(tmp_path / "oss", delivery)
    outputs = []
    for threads in ("1", "3"):
        result = run(tmp_path / "oss", "--out", tmp_path / threads, "--typing-threads", threads)
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout.replace(str(tmp_path / threads), "LAKE")))
        files = sorted((tmp_path / threads / "focus_alibaba_normalized").rglob("*.parquet"))
        outputs.append([f.read_bytes() for f in files])
    assert outputs[0] == outputs[2] and outputs[1] == outputs[3] and len(outputs[1]) == 3
    refused = run(tmp_path / "oss", "--out", tmp_path / "x", "--typing-threads", "many")
    assert refused.returncode == 2 and "--typing-threads" in refused.stderr


def test_options_timezone_batch_ts_and_repairs(tmp_path):
    path = write_export(tmp_path / "bill.csv", csv_text([{"ProviderName": "1001", "BilledCost": "0.123456789012"}]))
    result = run(
        path,
        "--out",
        tmp_path / "lake",
        "--source-timezone",
        "UTC",
        "--batch-ts",
        "2026-01-06",
        "--repair",
        "round_excess_decimals=on",
        "--repair",
        "map_provider_names=off",
        "--derive",
        "service_categories=off",
        "--derive=pricing_currency=off",
        "--derive=account_types=off",
    )
    assert result.returncode == 1  # rounding changed money: said, and the exit status shows it
    assert "does not reconcile" in result.stderr and "BilledCost CNY: read 0.123456789012" in result.stderr
    [member] = json.loads(result.stdout)["objects"]
    assert member["batch_ts"] == "20260106T000000" and member["batch_ts_from"] == "argument"
    assert member["repairs"] == {"BilledCost:rounded": 1}
    assert member["yearmonth"] == "202601"  # from the rows: the key names no month


def test_an_unreadable_input_exits_2_with_one_line_naming_the_file(tmp_path):
    good = write_export(tmp_path / "in" / "a.csv", csv_text([{}]))
    bad = write_export(tmp_path / "in" / "b.csv", csv_text([{}]) + '2026-01-01,"unterminated\n')
    result = run(good, bad, "--out", tmp_path / "lake", "--batch-ts", "20260106")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"focus-assets: error: {bad.as_posix()}")
    missing = run(tmp_path / "nope", "--out", tmp_path / "lake")
    assert missing.returncode == 2 and "nope: no such file or directory" in missing.stderr


def test_bad_option_values_are_refused_clearly(tmp_path):
    result = run(tmp_path, "--out", tmp_path / "lake", "--repair", "teleport=on")
    assert result.returncode != 0 and "--repair takes NAME=on|off" in result.stderr
    result = run(tmp_path, "--out", tmp_path / "lake", "--derive", "pricing_currency=maybe")
    assert result.returncode != 0 and "--derive takes NAME=on|off with NAME one of service_categories" in result.stderr


def test_key_pattern_promoted_tags_and_name_mappings(tmp_path):
    key_dir = tmp_path / "bills" / "bill_2026-01" / "run-20260107"
    write_export(
        key_dir / "b.csv", csv_text([{"Tags": '{"team":"data"}', "InvoiceIssuerName": "5010", "PublisherName": "77"}])
    )
    result = run(
        tmp_path / "bills",
        "--out",
        tmp_path / "lake",
        "--key-pattern",
        r"bill_(?P<yearmonth>\d{4}-\d{2})/run-(?P<batch_ts>\d{8})/",
        "--promoted-tags",
        "Team",
        "--invoice-issuer-name",
        "5010=Alibaba Cloud (Singapore) Private Limited",
        "--publisher-name",
        "77=Some ISV",
    )
    assert result.returncode == 0, result.stderr
    [member] = json.loads(result.stdout)["objects"]
    assert (member["yearmonth"], member["batch_ts"]) == ("202601", "20260107T000000")
    typed = pl.read_parquet(member["output"])
    assert typed["x_TagTeam"].to_list() == ["data"] and "x_TagBrand" not in typed.columns
    assert typed["InvoiceIssuerName"].to_list() == ["Alibaba Cloud (Singapore) Private Limited"]
    assert typed["PublisherName"].to_list() == ["Some ISV"]


def test_a_sample_delivery_stamped_now_is_what_the_sensor_runs(tmp_path):
    """`focus-assets sample-delivery` writes a delivery as Alibaba would now; the sensor's plan runs
    it for today (UTC+8). On the 1st, Alibaba's delivery is the previous month's, in its folder."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from focus_assets.alibaba.export_settings import ExportSettings
    from focus_assets.resources.stores import LocalFolderStore

    from .helpers import plan_of

    before = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d")
    now = subprocess.run(
        [sys.executable, "-m", "focus_assets.cli", "sample-delivery", "--into", tmp_path / "now", "--parts", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert now.returncode == 0, now.stderr
    keys = now.stdout.split()
    assert len(keys) == 2 and all((tmp_path / "now" / key).is_file() for key in keys)
    plan = plan_of(
        LocalFolderStore(root=str(tmp_path / "now")),
        ExportSettings(settle_seconds=0),
        None,
        now=datetime.now(UTC) + timedelta(seconds=1),
    )
    stamp = keys[0].split("/")[2]
    day = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}"
    assert day in (
        before,
        datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d"),
    )  # today, at either side of midnight
    assert [(run.day, run.keys) for run in plan.runs] == [(day, tuple(sorted(keys)))]
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "focus_assets.cli",
            "sample-delivery",
            "--into",
            tmp_path / "first",
            "--at",
            "2027-01-01T00:05:00+08:00",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.stdout.split() == [
        "focus-export/202612/20270101T000500/1234567890123456_26842_BillingItemDetail_202612.csv.gz"
    ]
