"""The push mode's Function Compute handler (deploy/function_compute/index.py) with its real
clients, oss2 on the OSS-dialect adapter and boto3 on moto's server, invoked with OSS trigger
payloads shaped as Function Compute delivers them; and its package, built without dependencies
and run from the unzipped folder with dagster, polars, pyarrow and duckdb blocked."""

import gzip
import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
import zipfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import boto3
import boto3.s3.transfer
import oss2
import pytest

from focus_assets.storage.oss_events import (
    EventError,
    OssEvent,
    ReplicationError,
    ignore_reason,
    internal_endpoint,
    parse_events,
)
from focus_assets.storage.replication import SOURCE_ETAG, SOURCE_SIZE

from .local_aws import AWS_KEY_ID, AWS_SECRET, OSS_KEY_ID, OSS_SECRET, TRANSIENT, FaultPlan, aws_and_oss

ROOT = Path(__file__).resolve().parents[1]
FUNCTION = ROOT / "deploy" / "function_compute"
EXPORT, RAW, RAW_PREFIX = "alibaba-export", "focus-raw", "alibaba/"
STS_KEY_ID, STS_TOKEN = "STS.fake-role-key-0042", "fake-sts-security-token-93f1"
SECRETS = (OSS_SECRET, AWS_SECRET, STS_TOKEN)
DAY = "focus-export/202601/20260105T080000/"
KEYS = [f"{DAY}1234567890123456_1_BillingItemDetail_202601_{n}.csv.gz" for n in (1, 2, 3)]


@contextmanager
def logger_levels_kept(names):
    """Put the levels of these loggers back after the block (the handler pins the clients'
    loggers for its process; other tests want them as they were)."""
    kept = {name: logging.getLogger(name).level for name in names}
    try:
        yield
    finally:
        for name, level in kept.items():
            logging.getLogger(name).setLevel(level)


def _load_index():
    spec = importlib.util.spec_from_file_location("function_compute_index", FUNCTION / "index.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    with logger_levels_kept(("oss2", "botocore", "boto3", "s3transfer", "urllib3")):
        spec.loader.exec_module(module)
    return module


index = _load_index()


@pytest.fixture(autouse=True)
def client_loggers_pinned_as_in_the_function():
    with logger_levels_kept(index.CLIENT_LOGGERS):
        index.quiet_client_loggers()
        yield


def oss_event(
    key: str, name: str = "ObjectCreated:PutObject", size: int = 0, etag: str = "", region: str = "cn-hangzhou"
) -> dict:
    """One event as an OSS trigger delivers it (Function Compute, "Formats of event for different
    triggers"): eventName without the "oss:" prefix, the ETag in upper case."""
    return {
        "eventName": name,
        "eventSource": "acs:oss",
        "eventTime": "2026-01-05T08:00:03.000Z",
        "eventVersion": "1.0",
        "oss": {
            "bucket": {
                "arn": f"acs:oss:{region}:1234567890123456:{EXPORT}",
                "name": EXPORT,
                "ownerIdentity": "1234567890123456",
            },
            "object": {"deltaSize": size, "eTag": etag.upper(), "key": key, "size": size},
            "ossSchemaVersion": "1.0",
            "ruleId": "9adac8e253828f4f7c0466d941fa3db81161aa00",
        },
        "region": region,
        "requestParameters": {"sourceIPAddress": "140.205.128.12"},
        "responseElements": {"requestId": "58F9FF2D3DF792092E12044C"},
        "userIdentity": {"principalId": "1234567890123456"},
    }


def payload(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()  # Function Compute passes bytes


def fc_context(role: bool = True) -> SimpleNamespace:
    """Shaped like the Python runtime's context: the function's RAM role as STS credentials."""
    credentials = (
        SimpleNamespace(access_key_id=STS_KEY_ID, access_key_secret=OSS_SECRET, security_token=STS_TOKEN)
        if role
        else None
    )
    return SimpleNamespace(
        request_id="4b2e7a4c-1f0e-4f43-9d55-0d3b2c1a9e70",
        credentials=credentials,
        function=SimpleNamespace(name="focus-assets-push", handler="index.handler", memory=512, timeout=1800),
        region="cn-hangzhou",
        account_id="1234567890123456",
    )


def export_bytes(n: int, size: int = 4000) -> bytes:
    rows = "".join(f"row-{n}-{i},{hashlib.md5(f'{n}/{i}'.encode()).hexdigest()}\n" for i in range(size // 40))
    return gzip.compress(("BilledCost,BillingAccountId\n" + rows).encode(), mtime=0)


@pytest.fixture
def cloud(monkeypatch):
    """The export bucket on the OSS adapter, the raw bucket on moto, the function's environment;
    faults are planned and armed by the test."""
    plan = FaultPlan(armed=False)
    with aws_and_oss(plan) as (s3_endpoint, oss_endpoint):
        for name in (
            "OSS_ACCESS_KEY_ID",
            "OSS_ACCESS_KEY_SECRET",
            "OSS_SECURITY_TOKEN",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "EXPORT_PREFIX",
            "OSS_PREFIX",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ):
            monkeypatch.delenv(name, raising=False)
        environment = {
            "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "S3_BUCKET_NAME": RAW,
            "S3_PREFIX": RAW_PREFIX,
            "S3_REGION": "us-east-1",
            "S3_ENDPOINT_URL": s3_endpoint,
            "OSS_ENDPOINT": oss_endpoint,
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        for bucket in (EXPORT, RAW):
            s3.create_bucket(Bucket=bucket)
        oss = oss2.Bucket(oss2.Auth(OSS_KEY_ID, OSS_SECRET), oss_endpoint, EXPORT)
        yield SimpleNamespace(s3=s3, oss=oss, plan=plan, environment=environment)


def put(cloud, key: str, data: bytes) -> dict:
    """Write an export object through oss2; the event it would raise."""
    etag = cloud.oss.put_object(key, data).etag
    return oss_event(key, size=len(data), etag=etag)


def raw_copy(cloud, key: str) -> tuple[bytes, dict]:
    found = cloud.s3.get_object(Bucket=RAW, Key=RAW_PREFIX + key)
    return found["Body"].read(), found["Metadata"]


def raw_keys(cloud) -> list[str]:
    return sorted(o["Key"] for o in cloud.s3.list_objects_v2(Bucket=RAW).get("Contents", []))


def invoke(event: bytes, context=None) -> dict:
    return json.loads(index.handler(event, context or fc_context()))


# --- the event, without servers -------------------------------------------------------------


def test_events_are_read_from_bytes_text_or_a_dict_and_anything_else_is_refused():
    event = oss_event(KEYS[0], size=12, etag="688a7bf4f233dc9c88a80bf985ab0001")
    for form in (payload(event), payload(event).decode(), {"events": [event]}):
        assert parse_events(form) == [
            OssEvent("ObjectCreated:PutObject", EXPORT, KEYS[0], "cn-hangzhou", 12, "688A7BF4F233DC9C88A80BF985AB0001")
        ]
    assert parse_events(b'{"events": []}') == []
    for bad, message in (
        (b"not json", "not JSON"),
        (b'{"triggerTime": "x"}', "no 'events' list"),
        (payload({"eventName": "ObjectCreated:PutObject"}), "event 0: oss.bucket.name is missing"),
    ):
        with pytest.raises(EventError, match=message):
            parse_events(bad)


def test_which_events_are_copied_and_where_they_are_read():
    def reason(key, name="ObjectCreated:PutObject", oss_prefix=""):
        return ignore_reason(OssEvent(name, EXPORT, key), oss_prefix, "focus-export/")

    for name in ("PutObject", "PostObject", "CopyObject", "CompleteMultipartUpload", "PutSymlink"):
        assert reason(KEYS[0], f"ObjectCreated:{name}") is None
    assert "appendable" in reason(KEYS[0], "ObjectCreated:AppendObject")
    assert "not completed" in reason(KEYS[0], "ObjectCreated:UploadPart")
    assert reason(KEYS[0], "ObjectRemoved:DeleteObject") == "not an object creation this function copies"
    assert "outside the export prefix" in reason("other/x.csv")
    assert "outside the export prefix" in reason(KEYS[0], oss_prefix="bills/")
    assert reason("bills/" + KEYS[0], oss_prefix="bills/") is None
    assert reason(DAY) == "a folder marker"
    assert internal_endpoint("cn-hangzhou") == "https://oss-cn-hangzhou-internal.aliyuncs.com"
    assert internal_endpoint("ap-southeast-1") == "https://oss-ap-southeast-1-internal.aliyuncs.com"
    for region in ("", "evil.com/x", "cn-hangzhou.attacker.net", "CN-HANGZHOU"):
        with pytest.raises(EventError, match="no Alibaba Cloud region ID"):
            internal_endpoint(region)


def test_settings_are_checked_and_named_in_one_line():
    base = {
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "s",
        "S3_BUCKET_NAME": "finops-raw",
        "S3_REGION": "eu-central-1",
    }
    settings = index.settings(base)
    assert (settings.s3_prefix, settings.export_prefix, settings.oss_prefix, settings.oss_endpoint) == (
        "",
        "focus-export/",
        "",
        None,
    )
    assert (
        index.settings({**base, "S3_PREFIX": "alibaba/raw", "EXPORT_PREFIX": "bills/focus"}).s3_prefix == "alibaba/raw/"
    )
    for change, message in (
        ({"S3_BUCKET_NAME": ""}, "^S3_BUCKET_NAME is not set$"),
        ({"S3_PREFIX": "raw/*"}, "^S3_PREFIX='raw/\\*' is refused"),
        ({"EXPORT_PREFIX": "../x"}, "^EXPORT_PREFIX='../x' is refused"),
        ({"S3_BUCKET_NAME": "Raw_Bucket"}, "^S3_BUCKET_NAME='Raw_Bucket' is refused"),
        ({"S3_REGION": "moon"}, "^S3_REGION='moon' is refused"),
        ({"OSS_ENDPOINT": "https://oss.example.com/x?y"}, "^OSS_ENDPOINT=.* is refused"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "^AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"),
    ):
        with pytest.raises(ValueError, match=message):
            index.settings({**base, **change})
    web_identity = {k: v for k, v in base.items() if not k.startswith("AWS_")}
    web_identity.update(AWS_ROLE_ARN="arn:aws:iam::123456789012:role/push", AWS_WEB_IDENTITY_TOKEN_FILE="/tmp/t")
    assert index.settings(web_identity).s3_bucket == "finops-raw"


# --- the handler on local servers ------------------------------------------------------------


def test_a_put_object_is_copied_byte_for_byte_with_its_source_recorded(cloud):
    data = export_bytes(1)
    event = put(cloud, KEYS[0], data)
    assert invoke(payload(event)) == {"copied": [KEYS[0]], "skipped": [], "ignored": []}
    copy, metadata = raw_copy(cloud, KEYS[0])
    assert copy == data
    assert metadata == {SOURCE_ETAG: hashlib.md5(data).hexdigest(), SOURCE_SIZE: str(len(data))}


def test_a_batch_copies_each_export_object_and_ignores_the_rest(cloud):
    events = [
        put(cloud, KEYS[0], export_bytes(1)),
        put(cloud, KEYS[1], export_bytes(2)),
        put(cloud, "other-team/report.csv", b"not an export"),
        put(cloud, KEYS[2], export_bytes(3)),
    ]
    events[1]["eventName"] = "ObjectCreated:PostObject"
    events[3]["eventName"] = "ObjectCreated:AppendObject"
    summary = invoke(payload(*events))
    assert summary["copied"] == KEYS[:2] and summary["skipped"] == []
    assert [i["key"] for i in summary["ignored"]] == ["other-team/report.csv", KEYS[2]]
    assert "outside the export prefix 'focus-export/'" in summary["ignored"][0]["reason"]
    assert raw_keys(cloud) == [RAW_PREFIX + k for k in KEYS[:2]]
    assert [raw_copy(cloud, k)[0] for k in KEYS[:2]] == [export_bytes(1), export_bytes(2)]


def test_a_multipart_upload_is_copied_and_checked_by_size(cloud, tmp_path):
    big = tmp_path / "big.csv.gz"
    big.write_bytes(b"".join(export_bytes(n, 400_000) for n in range(40))[: 11 * 1024**2])
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    cloud.s3.upload_file(str(big), EXPORT, KEYS[0], Config=config)  # the same backend as the OSS adapter
    head = cloud.oss.head_object(KEYS[0])
    assert head.etag.endswith(("-2", "-3"))  # parts: an ETag that is no MD5
    event = oss_event(KEYS[0], "ObjectCreated:CompleteMultipartUpload", head.content_length, head.etag)
    assert invoke(payload(event))["copied"] == [KEYS[0]]
    copy, metadata = raw_copy(cloud, KEYS[0])
    assert copy == big.read_bytes() and metadata == {
        SOURCE_ETAG: head.etag.lower(),
        SOURCE_SIZE: str(big.stat().st_size),
    }
    assert invoke(payload(event))["skipped"] == [KEYS[0]]  # recognised by the recorded source ETag


def test_a_symlink_is_copied_with_its_targets_bytes_under_its_own_key(cloud):
    data = export_bytes(7)
    target = put(cloud, KEYS[0], data)
    link = f"{DAY}latest.csv.gz"
    cloud.oss.put_symlink(KEYS[0], link)
    event = oss_event(link, "ObjectCreated:PutSymlink", 0, target["oss"]["object"]["eTag"])
    assert invoke(payload(event)) == {"copied": [link], "skipped": [], "ignored": []}
    copy, metadata = raw_copy(cloud, link)
    assert copy == data and metadata[SOURCE_ETAG] == hashlib.md5(data).hexdigest()
    assert raw_keys(cloud) == [RAW_PREFIX + link]  # the target itself is copied by its own event
    # a symlink to an object outside the export prefix is refused (and not read)
    cloud.oss.put_object("private/secret.csv", b"not an export")
    cloud.oss.put_symlink("private/secret.csv", f"{DAY}sneaky.csv")
    with pytest.raises(
        ReplicationError, match="points outside the export prefix 'focus-export/': 'private/secret.csv'"
    ):
        invoke(payload(oss_event(f"{DAY}sneaky.csv", "ObjectCreated:PutSymlink")))
    assert raw_keys(cloud) == [RAW_PREFIX + link]


def test_a_redelivered_event_copies_nothing_and_a_changed_object_is_copied_again(cloud):
    cloud.s3.put_bucket_versioning(Bucket=RAW, VersioningConfiguration={"Status": "Enabled"})  # each PUT: a version

    def versions():
        return len(cloud.s3.list_object_versions(Bucket=RAW, Prefix=RAW_PREFIX + KEYS[0]).get("Versions", []))

    event = payload(put(cloud, KEYS[0], export_bytes(1)))
    assert invoke(event)["copied"] == [KEYS[0]]
    assert invoke(event) == {"copied": [], "skipped": [KEYS[0]], "ignored": []}
    assert versions() == 1
    changed = payload(put(cloud, KEYS[0], export_bytes(2)))  # a re-delivery overwrites with new bytes
    assert invoke(changed)["copied"] == [KEYS[0]]
    assert versions() == 2 and raw_copy(cloud, KEYS[0])[0] == export_bytes(2)
    assert invoke(event)["skipped"] == [KEYS[0]]  # a late copy of the first event: the current object is there


def test_without_a_role_the_oss_keys_come_from_the_environment(cloud, monkeypatch):
    event = payload(put(cloud, KEYS[0], export_bytes(1)))
    with pytest.raises(ValueError, match="^no OSS credentials: give the function a RAM role"):
        index.handler(event, fc_context(role=False))
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", OSS_KEY_ID)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", OSS_SECRET)
    assert invoke(event, fc_context(role=False))["copied"] == [KEYS[0]]


@contextmanager
def every_logger_at(level: int):
    """Every logger, the clients' included, at `level` for the block (as a runtime misconfigured
    to DEBUG would go further than a root level)."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, was in zip(loggers, levels, strict=True):
            lg.setLevel(was)


def test_no_secret_reaches_the_logs_the_output_or_the_result(cloud, caplog, capfd):
    events = [put(cloud, k, export_bytes(n)) for n, k in enumerate(KEYS[:2])]
    caplog.set_level(logging.DEBUG)  # the root logger at DEBUG: the clients' loggers stay pinned
    result = index.handler(payload(*events), fc_context())
    lines = [r.getMessage() for r in caplog.records if r.name == "focus_assets.function"]
    assert lines == [
        f"copied oss://{EXPORT}/{k} -> s3://{RAW}/{RAW_PREFIX}{k} ({len(export_bytes(n))} bytes, ETag "
        f"{hashlib.md5(export_bytes(n)).hexdigest()})"
        for n, k in enumerate(KEYS[:2])
    ]
    skipped = index.handler(payload(*events), fc_context())
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err, result, skipped):
        assert not [s for s in (*SECRETS, STS_KEY_ID) if s in text]
    # Every logger forced to DEBUG: oss2 then logs its request headers (the STS token among them),
    # which is why index.py pins it; the secrets themselves are still never written.
    caplog.clear()
    with every_logger_at(logging.DEBUG):
        cloud.oss.put_object(KEYS[0], export_bytes(9))
        index.handler(payload(events[0]), fc_context())
    assert any(r.name.startswith("oss2") for r in caplog.records) and any(
        r.name.startswith("botocore") for r in caplog.records
    )
    captured = capfd.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert OSS_SECRET not in text and AWS_SECRET not in text


def test_transient_faults_on_oss_and_s3_change_nothing(cloud):
    events = [put(cloud, k, export_bytes(n)) for n, k in enumerate(KEYS)]
    cloud.plan.transient = {"oss": list(TRANSIENT), "s3": list(TRANSIENT)}  # 500, 503, throttling, dropped connections
    cloud.plan.armed = True
    summary = invoke(payload(*events))
    cloud.plan.armed = False
    assert summary == {"copied": KEYS, "skipped": [], "ignored": []}
    assert cloud.plan.pending() == {}  # every planned fault was met, and retried
    assert {service for service, _, _ in cloud.plan.injected} == {"oss", "s3"}
    assert [raw_copy(cloud, k)[0] for k in KEYS] == [export_bytes(n) for n in range(3)]


def test_a_permanent_refusal_raises_one_line_naming_the_object(cloud):
    events = [put(cloud, k, export_bytes(n)) for n, k in enumerate(KEYS[:2])]
    cloud.plan.permanent = {"s3": ("PUT", f"/{RAW}/")}
    cloud.plan.armed = True
    with pytest.raises(ReplicationError) as failure:
        index.handler(payload(*events), fc_context())
    message = str(failure.value)
    assert message == (
        f"oss://{EXPORT}/{KEYS[0]}: S3 writing s3://{RAW}/{RAW_PREFIX}{KEYS[0]} failed: "
        f"AccessDenied: Access Denied by the fault injector (and 1 more object(s) failed)"
    )
    assert "\n" not in message and not [s for s in SECRETS if s in message]


def test_an_unsafe_key_is_refused_and_the_rest_of_the_batch_is_copied(cloud, caplog):
    good = put(cloud, KEYS[0], export_bytes(1))
    caplog.set_level(logging.INFO)
    with pytest.raises(ReplicationError) as failure:
        index.handler(payload(oss_event("focus-export/../x.csv"), good), fc_context())
    assert str(failure.value) == (
        f"oss://{EXPORT}/focus-export/../x.csv: object key='focus-export/../x.csv' is refused: a key must be "
        "relative and plain; this one has a '.' or '..' segment"
    )
    assert raw_keys(cloud) == [RAW_PREFIX + KEYS[0]]
    assert [r.levelname for r in caplog.records if r.name == "focus_assets.function"] == ["ERROR", "INFO"]
    # a key that could forge a log line is shown quoted
    with pytest.raises(ReplicationError, match=r"^'oss://alibaba-export/focus-export/a\\nb.csv': "):
        index.handler(payload(oss_event("focus-export/a\nb.csv")), fc_context())


# --- the package ------------------------------------------------------------------------------

PACKAGED = [
    "focus_assets/__init__.py",
    "focus_assets/focus/__init__.py",
    "focus_assets/focus/names.py",
    "focus_assets/storage/__init__.py",
    "focus_assets/storage/base.py",
    "focus_assets/storage/oss.py",
    "focus_assets/storage/oss_events.py",
    "focus_assets/storage/replication.py",
    "focus_assets/storage/s3.py",
    "index.py",
]
HEAVY = ("dagster", "polars", "pyarrow", "duckdb")

# Run in a fresh interpreter from the unzipped package: the heavy packages cannot be imported
# (None in sys.modules), and every focus_assets module must come from the package.
RUN_FROM_PACKAGE = f"""
import json, sys
from types import SimpleNamespace
for name in {HEAVY!r}:
    sys.modules[name] = None
sys.path.insert(0, sys.argv[1])
import index
credentials = SimpleNamespace(access_key_id="STS.fake", access_key_secret="fake", security_token="fake")
print(index.handler(sys.argv[2].encode(), SimpleNamespace(credentials=credentials, request_id="r")))
outside = [m.__name__ for n, m in list(sys.modules.items())
           if n.split(".")[0] == "focus_assets" and not m.__file__.startswith(sys.argv[1])]
print(json.dumps(outside))
"""


def build_package(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FUNCTION / "package.py"), "--out", str(out), "--no-dependencies"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_package_holds_the_handler_and_its_modules_and_is_the_same_each_time(tmp_path):
    first, second = build_package(tmp_path / "a" / "function.zip"), build_package(tmp_path / "b" / "function.zip")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.startswith(str(tmp_path / "a" / "function.zip"))
    archive = zipfile.ZipFile(tmp_path / "a" / "function.zip")
    assert archive.namelist() == PACKAGED  # sorted, nothing else
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert archive.read("index.py") == (FUNCTION / "index.py").read_bytes()
    assert (tmp_path / "a" / "function.zip").read_bytes() == (tmp_path / "b" / "function.zip").read_bytes()
    for module in PACKAGED[:-1]:  # the package's own modules import nothing heavy
        text = (ROOT / module).read_text()
        assert not [h for h in HEAVY if f"import {h}" in text or f"from {h}" in text], module


def test_the_packaged_handler_runs_without_dagster_polars_pyarrow_or_duckdb(cloud, tmp_path):
    assert build_package(tmp_path / "function.zip").returncode == 0
    unpacked = tmp_path / "code"
    zipfile.ZipFile(tmp_path / "function.zip").extractall(unpacked)
    event = put(cloud, KEYS[0], export_bytes(1))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [sys.executable, "-c", RUN_FROM_PACKAGE, str(unpacked), payload(event).decode()],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary, outside = result.stdout.strip().splitlines()
    assert json.loads(summary) == {"copied": [KEYS[0]], "skipped": [], "ignored": []}
    assert json.loads(outside) == []
    assert raw_copy(cloud, KEYS[0])[0] == export_bytes(1)
