"""Credentials come from the environment only and never show: a run of the `aws` deployment with
recognisable fake keys, one that succeeds and one that fails, leaves them in no log line, no
event, no metadata and no error; and nothing key-shaped is committed to the repository."""

import logging
import re
from pathlib import Path

import dagster as dg

from focus_assets.alibaba.assets import ASSETS
from focus_assets.deployment import resources_for

from .local_aws import AWS_KEY_ID, AWS_SECRET, OSS_KEY_ID, OSS_SECRET, FaultPlan, aws_deployment

SECRETS = (OSS_SECRET, AWS_SECRET)
KEY_IDS = (OSS_KEY_ID, AWS_KEY_ID)
PROJECT = Path(__file__).resolve().parents[1]


def run_and_record(raise_on_error: bool = True) -> tuple[bool, str]:
    """Run a day; every event of the run as Dagster stores it (log messages, metadata, check
    results, errors), as text."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ASSETS, partition_key="2026-01-05", resources=resources_for(), instance=instance, raise_on_error=raise_on_error
    )
    return result.success, "\n".join(repr(record) for record in instance.all_logs(result.run_id))


def test_fake_keys_appear_in_no_log_event_metadata_or_error(tmp_path, monkeypatch, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # every logger, third-party ones included
    recorded = []
    with aws_deployment(tmp_path / "ok", monkeypatch):
        success, events = run_and_record()
        assert success
        recorded.append(events)
    refused = FaultPlan(permanent={"oss": ("GET", "/alibaba-export/bills/")})
    with aws_deployment(tmp_path / "refused", monkeypatch, refused):
        success, events = run_and_record(raise_on_error=False)
        assert not success
        recorded.append(events)
    output = capfd.readouterr()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert "BilledCost per currency" in recorded[0]  # the metadata is in what we search
    assert "AccessDenied" in recorded[1] and "STEP_FAILURE" in recorded[1]  # and the failure
    assert len(caplog.records) > 100  # third-party debug logging was on
    for text in (*recorded, output.out, output.err):
        for value in SECRETS + KEY_IDS:
            assert value not in text
    for value in SECRETS:  # at DEBUG, signing libraries log the key ID in the signature header; never the secret
        assert value not in logs


KEY_SHAPES = re.compile(
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key IDs
    r"|\bLTAI[0-9A-Za-z]{12,30}\b"  # Alibaba Cloud AccessKey IDs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|(?i:secret_access_key|access_key_secret)\s*[=:]\s*['\"]?[A-Za-z0-9/+]{30,}"
)


def test_nothing_key_shaped_is_committed():
    found = []
    for path in PROJECT.rglob("*"):
        parts = path.relative_to(PROJECT).parts
        if not path.is_file() or any(p.startswith(".") or p.endswith(".egg-info") for p in parts[:-1]):
            continue
        if path.suffix in (".parquet", ".gz", ".zip", ".duckdb", ".pyc"):
            continue
        found += [
            f"{path.relative_to(PROJECT)}: {m.group()[:12]}..."
            for m in KEY_SHAPES.finditer(path.read_text(errors="replace"))
        ]
    assert found == []
