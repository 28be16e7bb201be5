"""The least-privilege policies in docs/policies/: rendered for a configuration, they name only its
buckets, prefixes, database and workgroup, and allow exactly the API calls the code makes."""

import ast
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import botocore.session
import oss2
import pytest
from botocore import xform_name

import focus_assets
from focus_assets import policies
from focus_assets.focus.names import UnsafeNameError

PACKAGE = Path(focus_assets.__file__).parent

CONFIG = {
    "FOCUS_AWS_REGION": "eu-central-1",
    "AWS_ACCOUNT_ID": "123456789012",
    "FOCUS_OSS_BUCKET": "billing-export",
    "FOCUS_OSS_PREFIX": "bills",
    "FOCUS_EXPORT_PREFIX": "focus-export/",
    "FOCUS_RAW_BUCKET": "finops-raw",
    "FOCUS_RAW_PREFIX": "alibaba/raw",
    "FOCUS_LAKE_BUCKET": "finops-lake",
    "FOCUS_LAKE_PREFIX": "focus",
    "FOCUS_ATHENA_OUTPUT": "s3://finops-athena-results/focus/",
    "FOCUS_ATHENA_DATABASE": "finops",
    "FOCUS_ATHENA_WORKGROUP": "finops-etl",
    "OSS_ACCESS_KEY_SECRET": "never-used-by-the-policies",
}
GLUE = "arn:aws:glue:eu-central-1:123456789012:"
RAW, LAKE, RESULTS = (
    ("arn:aws:s3:::finops-raw", "arn:aws:s3:::finops-raw/alibaba/raw/*"),
    ("arn:aws:s3:::finops-lake", "arn:aws:s3:::finops-lake/focus/*"),
    ("arn:aws:s3:::finops-athena-results", "arn:aws:s3:::finops-athena-results/focus/*"),
)
WORKGROUP = "arn:aws:athena:eu-central-1:123456789012:workgroup/finops-etl"
CATALOG, DATABASE, TABLES = (GLUE + "catalog", GLUE + "database/finops", GLUE + "table/finops/*")
OSS_BUCKET, OSS_EXPORT = "acs:oss:*:*:billing-export", "acs:oss:*:*:billing-export/bills/focus-export/*"

# Each cloud API call of the code and the IAM / RAM actions it needs (AWS Service Authorization
# Reference; OSS's RAM action table). boto3's managed transfers: download_file is HeadObject then
# ranged GetObject; upload_file is PutObject, or CreateMultipartUpload/UploadPart/Complete (all
# s3:PutObject) and AbortMultipartUpload when a part fails. oss2's ObjectIteratorV2 is
# ListObjectsV2 (oss:ListObjects); HeadObject needs oss:GetObject.
ACTIONS = {
    ("s3", "list_objects_v2"): {"s3:ListBucket"},
    ("s3", "head_object"): {"s3:GetObject"},
    ("s3", "download_file"): {"s3:GetObject"},
    ("s3", "upload_file"): {"s3:PutObject", "s3:AbortMultipartUpload"},
    ("s3", "delete_object"): {"s3:DeleteObject"},
    ("athena", "start_query_execution"): {"athena:StartQueryExecution"},
    ("athena", "get_query_execution"): {"athena:GetQueryExecution"},
    ("athena", "get_query_results"): {"athena:GetQueryResults"},
    ("glue", "create_database"): {"glue:CreateDatabase"},
    ("glue", "get_table"): {"glue:GetTable"},
    ("glue", "create_table"): {"glue:CreateTable"},
    ("glue", "get_partition"): {"glue:GetPartition"},
    ("glue", "batch_create_partition"): {"glue:BatchCreatePartition"},
    ("oss", "ObjectIteratorV2"): {"oss:ListObjects"},
    ("oss", "head_object"): {"oss:GetObject"},
    ("oss", "get_object_to_file"): {"oss:GetObject"},
    ("oss", "get_symlink"): {"oss:GetObject"},  # reading a symlink needs GetObject (Function Compute resolves them)
    ("oss", "put_object_from_file"): {"oss:PutObject"},
}
_BUCKET_LEVEL = {"s3:ListBucket", "s3:GetBucketLocation"}
_DATABASE_LEVEL = {"glue:CreateDatabase", "glue:GetDatabase"}

# What Athena does with the caller's own permissions when StartQueryExecution runs the project's
# SQL (CREATE OR REPLACE VIEW, SELECT over the partitioned lake), per Athena's documentation: it
# reads the catalog (GetDatabase and CreateDatabase on the `default` database are mandatory),
# creates or replaces views, reads the tables' partitions and files, and writes and reads the
# results location.
ATHENA_ON_BEHALF = {
    *(
        (a, r)
        for a in ("glue:GetDatabase", "glue:CreateDatabase")
        for r in (CATALOG, GLUE + "database/default", DATABASE)
    ),
    *(
        (a, r)
        for a in ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:GetPartitions")
        for r in (CATALOG, DATABASE, TABLES)
    ),
    ("s3:GetBucketLocation", LAKE[0]),
    ("s3:ListBucket", LAKE[0]),
    ("s3:GetObject", LAKE[1]),
    ("s3:GetBucketLocation", RESULTS[0]),
    ("s3:ListBucket", RESULTS[0]),
    *((a, RESULTS[1]) for a in ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload")),
}


def _operations() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    found = {
        svc: {xform_name(op) for op in session.get_service_model(svc).operation_names}
        for svc in ("s3", "athena", "glue")
    }
    found["s3"] |= {"upload_file", "download_file", "upload_fileobj", "download_fileobj", "copy"}  # managed transfers
    found["oss"] = {n for n in dir(oss2.Bucket) if not n.startswith("_")} | {n for n in dir(oss2) if "Iterator" in n}
    return found


class _Calls(ast.NodeVisitor):
    """Cloud API calls in a module, by (class, method); calls of self.<method> are followed."""

    def __init__(self, operations):
        self.operations, self.scope, self.calls, self.self_calls = operations, [], defaultdict(set), defaultdict(set)

    def visit_ClassDef(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_Call(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            name = node.args[0].value
        where = tuple(self.scope[:2])
        if receiver == "self":
            self.self_calls[where].add(name)
        if where and where[0] == "OssBucket":
            services = ["oss"] if name in self.operations["oss"] else []
        else:
            services = [s for s in ("s3", "athena", "glue") if name in self.operations[s]]
            if len(services) > 1:  # e.g. get_database is Athena's and Glue's: the receiver says which
                services = [s for s in services if s in receiver] or services
        for service in services:
            self.calls[where].add((service, name))
        self.generic_visit(node)

    def closure(self, where):
        seen, todo, calls = set(), [where], set()
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                calls |= self.calls[current]
                todo += [(current[0], m) for m in self.self_calls[current]]
        return calls


def _scan() -> _Calls:
    scanner = _Calls(_operations())
    for path in sorted([*(PACKAGE / "resources").glob("*.py"), *(PACKAGE / "storage").glob("*.py")]):
        scanner.visit(ast.parse(path.read_text()))
    return scanner


def _export_bucket_methods() -> set[str]:
    """The methods the Dagster code calls on an export bucket: on a source's bucket (`source.export`,
    or `export`), and on `store` in the modules that list it for the assets and the sensor."""
    methods = set()
    listing = [PACKAGE / "focus" / "export_layout.py", PACKAGE / "focus" / "delivery_watch.py"]
    for path in sorted((PACKAGE / "alibaba").glob("*.py")) + listing:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            target = node.func.value
            if (isinstance(target, ast.Name) and target.id in ("export", "store")) or (
                isinstance(target, ast.Attribute) and target.attr == "export"
            ):
                methods.add(node.func.attr)
    return methods


def _grants(policy: dict) -> set[tuple[str, str]]:
    pairs = set()
    for statement in policy["Statement"]:
        actions, resources = statement["Action"], statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if isinstance(resources, str) else resources:
                pairs.add((action, resource))
    return pairs


@pytest.fixture(scope="module")
def rendered():
    return policies.render_all(CONFIG)


def test_each_file_is_valid_json_with_placeholders_for_every_name():
    for name, path in policies.POLICIES.items():
        policy = json.loads(path.read_text())
        assert policy["Version"] == ("2012-10-17" if name.startswith("aws") else "1")
        text = path.read_text()
        for literal in ("finops", "focus-export", "123456789012", "eu-central-1"):
            assert literal not in text  # nothing configured is written in the files


def test_the_code_calls_exactly_the_mapped_apis():
    scanner = _scan()
    found = set().union(*scanner.calls.values())
    assert found == set(ACTIONS), "map every cloud call to its IAM/RAM actions (and update the policy)"


def test_the_iam_policy_allows_what_the_code_calls_and_nothing_else(rendered):
    expected = set(ATHENA_ON_BEHALF)
    for service, call in set().union(*_scan().calls.values()):
        for action in ACTIONS[(service, call)]:
            if service == "s3":  # S3Store serves the raw bucket and the lake; only the lake has files removed
                stores = (LAKE,) if call == "delete_object" else (RAW, LAKE)
                expected |= {(action, bucket if action in _BUCKET_LEVEL else objects) for bucket, objects in stores}
            elif service == "athena":
                expected.add((action, WORKGROUP))
            elif service == "glue":
                scope = (CATALOG, DATABASE) if action in _DATABASE_LEVEL else (CATALOG, DATABASE, TABLES)
                expected |= {(action, resource) for resource in scope}
    assert _grants(rendered["aws-iam-pipeline"]) == expected


def test_the_ram_policy_allows_listing_and_reading_the_export_and_nothing_else(rendered):
    methods = _export_bucket_methods()
    assert {"list_objects", "list_folders", "describe"} <= methods  # the scan finds the assets' calls
    # the bucket is the source of storage.replication.copy_if_changed (in Dagster and in
    # the Function Compute handler, which also resolves symlinks)
    methods |= {"head", "local_copy", "symlink_target"}
    scanner = _scan()
    calls = set().union(*(scanner.closure(("OssBucket", m)) for m in methods))
    actions = set().union(*(ACTIONS[c] for c in calls))
    assert actions == {"oss:ListObjects", "oss:GetObject"}  # the export bucket is only read
    assert _grants(rendered["alibaba-ram-export-reader"]) == {
        ("oss:ListObjects", OSS_BUCKET),
        ("oss:GetObject", OSS_EXPORT),
    }
    [listing] = [s for s in rendered["alibaba-ram-export-reader"]["Statement"] if s["Action"] == "oss:ListObjects"]
    assert listing["Condition"] == {"StringLike": {"oss:Prefix": ["bills/focus-export/*"]}}


def test_the_function_policies_allow_what_the_push_handler_calls_and_nothing_else(rendered):
    """The Function Compute handler reads the event's object (OssBucket head, local_copy,
    symlink_target) and copies it with replication.copy_if_changed (S3Bucket head, metadata,
    upload), under the export prefix only."""
    scanner = _scan()
    oss = set().union(*(scanner.closure(("OssBucket", m)) for m in ("head", "local_copy", "symlink_target")))
    s3 = set().union(*(scanner.closure(("S3Bucket", m)) for m in ("head", "metadata", "upload")))
    raw_export = "arn:aws:s3:::finops-raw/alibaba/raw/focus-export/*"
    # HeadObject of a copy not made yet answers 404 only to a caller allowed s3:ListBucket (else 403)
    expected = {(action, raw_export) for call in s3 for action in ACTIONS[call]} | {("s3:ListBucket", RAW[0])}
    assert _grants(rendered["aws-iam-function"]) == expected
    assert _grants(rendered["alibaba-ram-function"]) == {
        (action, OSS_EXPORT) for call in oss for action in ACTIONS[call]
    }


def test_resources_name_only_the_configured_buckets_prefixes_database_and_workgroup(rendered):
    s3_buckets, s3_objects, glue, athena = set(), set(), set(), set()
    for _, resource in _grants(rendered["aws-iam-pipeline"]):
        arn, partition, service, region, account, name = resource.split(":", 5)
        assert (arn, partition) == ("arn", "aws")
        if service == "s3":
            assert region == account == ""
            (s3_objects if "/" in name else s3_buckets).add(name)
        else:
            assert (region, account) == ("eu-central-1", "123456789012")
            (glue if service == "glue" else athena).add(name)
    assert s3_buckets == {"finops-raw", "finops-lake", "finops-athena-results"}
    assert s3_objects == {"finops-raw/alibaba/raw/*", "finops-lake/focus/*", "finops-athena-results/focus/*"}
    assert glue == {"catalog", "database/default", "database/finops", "table/finops/*"}
    assert athena == {"workgroup/finops-etl"}
    statements = rendered["aws-iam-pipeline"]["Statement"]
    listings = {s["Resource"]: s["Condition"] for s in statements if s["Action"] == "s3:ListBucket"}
    assert listings == {
        bucket: {"StringLike": {"s3:prefix": [prefix]}}
        for bucket, prefix in ((RAW[0], "alibaba/raw/*"), (LAKE[0], "focus/*"), (RESULTS[0], "focus/*"))
    }


def test_no_wildcard_action_and_no_wildcard_resource(rendered):
    for name, policy in rendered.items():
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow" and not {"NotAction", "NotResource", "Principal"} & statement.keys()
        for action, resource in _grants(policy):
            assert "*" not in action, (name, action)
            path = resource.removeprefix("acs:oss:*:*:")  # RAM's region and account fields
            assert resource != "*" and "*" not in path.rstrip("*") and "?" not in path, (name, resource)
            assert "${" not in resource


def test_missing_and_unsafe_values_are_refused(tmp_path):
    with pytest.raises(policies.PolicyError, match=r"aws-iam-pipeline.json needs AWS_ACCOUNT_ID, FOCUS_ATHENA_OUTPUT$"):
        policies.render_all({k: v for k, v in CONFIG.items() if k not in ("AWS_ACCOUNT_ID", "FOCUS_ATHENA_OUTPUT")})
    for setting, value in (
        ("FOCUS_RAW_PREFIX", "raw/*"),
        ("FOCUS_LAKE_BUCKET", "lake*"),
        ("FOCUS_OSS_PREFIX", "${x}"),
        ("FOCUS_EXPORT_PREFIX", "../"),
        ("FOCUS_ATHENA_DATABASE", "db/*"),
        ("AWS_ACCOUNT_ID", "*"),
        ("FOCUS_ATHENA_OUTPUT", "s3://results/*"),
        ("FOCUS_AWS_REGION", "*"),
    ):
        with pytest.raises(UnsafeNameError, match=f"^{setting}="):
            policies.render_all({**CONFIG, setting: value})
    unruled = tmp_path / "p.json"
    unruled.write_text('{"Resource": "arn:aws:s3:::${SOMETHING_ELSE}"}')
    with pytest.raises(policies.PolicyError, match="no rule to check SOMETHING_ELSE"):
        policies.render_policy(unruled, {"SOMETHING_ELSE": "x"})


def test_the_defaults_are_the_aws_deployments(monkeypatch):
    from focus_assets.deployment import aws_resources

    for name in ("FOCUS_ATHENA_DATABASE", "FOCUS_ATHENA_WORKGROUP", "FOCUS_EXPORT_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        **CONFIG,
        "FOCUS_OSS_ENDPOINT": "https://oss-cn-hangzhou.aliyuncs.com",
        "OSS_ACCESS_KEY_ID": "id",
    }.items():
        if name not in ("FOCUS_ATHENA_DATABASE", "FOCUS_ATHENA_WORKGROUP", "FOCUS_EXPORT_PREFIX"):
            monkeypatch.setenv(name, value)
    resources = aws_resources()
    values = policies.values_from_environment(os.environ)
    assert values["FOCUS_ATHENA_DATABASE"] == resources["warehouse"].athena.database
    assert values["FOCUS_ATHENA_WORKGROUP"] == resources["warehouse"].athena.workgroup
    assert values["FOCUS_EXPORT_PREFIX"] == resources["export_sources"].sources[0].export_prefix


def _cli(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FOCUS_", "OSS_", "AWS_ACCOUNT_ID"))}
    return subprocess.run(
        [sys.executable, "-m", "focus_assets.cli", "policies", *args],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
    )


def test_the_cli_prints_both_policies_for_the_environment(rendered):
    env = {k: v for k, v in CONFIG.items() if k != "AWS_ACCOUNT_ID"}
    result = _cli("--account-id", "123456789012", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == rendered
    assert "never-used" not in result.stdout
    only = _cli(
        "--only", "alibaba-ram-export-reader", env={"FOCUS_OSS_BUCKET": "billing-export", "FOCUS_OSS_PREFIX": "bills"}
    )
    assert only.returncode == 0, only.stderr
    assert json.loads(only.stdout) == rendered["alibaba-ram-export-reader"]


def test_the_cli_names_a_missing_or_unsafe_setting_in_one_line():
    missing = _cli(env={"FOCUS_OSS_BUCKET": "billing-export"})
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("focus-assets: error: aws-iam-pipeline.json needs AWS_ACCOUNT_ID, ")
    unsafe = _cli(env={**CONFIG, "FOCUS_RAW_PREFIX": "raw/*"})
    assert unsafe.returncode == 2 and "FOCUS_RAW_PREFIX='raw/*' is refused" in unsafe.stderr
    assert "Traceback" not in unsafe.stderr


def test_each_export_source_gets_its_own_ram_policies(rendered):
    sources = [
        {"name": "default", "oss_endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "oss_bucket": "billing-export"},
        {
            "name": "intl",
            "oss_endpoint": "https://oss-ap-southeast-1.aliyuncs.com",
            "oss_bucket": "intl-bills",
            "oss_prefix": "finops/",
            "export_prefix": "focus/",
            "access_key_id_env": "OSS_INTL_KEY_ID",
            "access_key_secret_env": "OSS_INTL_KEY_SECRET",
        },
    ]
    config = {**CONFIG, "FOCUS_OSS_PREFIX": "", "FOCUS_EXPORT_SOURCES": json.dumps(sources)}
    per_source = policies.render_all(config)
    assert sorted(per_source) == sorted(
        [*policies.POLICIES, "alibaba-ram-export-reader-intl", "alibaba-ram-function-intl"]
    )
    assert per_source["aws-iam-pipeline"] == rendered["aws-iam-pipeline"]  # the raw folders are under FOCUS_RAW_PREFIX
    assert _grants(per_source["alibaba-ram-export-reader"]) == {
        ("oss:ListObjects", OSS_BUCKET),
        ("oss:GetObject", OSS_BUCKET + "/focus-export/*"),
    }
    assert _grants(per_source["alibaba-ram-export-reader-intl"]) == {
        ("oss:ListObjects", "acs:oss:*:*:intl-bills"),
        ("oss:GetObject", "acs:oss:*:*:intl-bills/finops/focus/*"),
    }
    bad = json.dumps([{"name": "intl", "oss_endpoint": "https://x", "oss_bucket": "Bad*Bucket"}])
    with pytest.raises(ValueError, match=r"FOCUS_EXPORT_SOURCES\[1\]\.oss_bucket='Bad\*Bucket' is refused"):
        policies.render_all({**CONFIG, "FOCUS_EXPORT_SOURCES": bad})
