"""Real local servers for the AWS side: moto's backend for S3, Glue and Athena (boto3,
dagster-aws, polars), and the same backend behind a small OSS-dialect adapter so that the real
oss2 client works against it; optionally with faults injected in front of both.

moto answers S3 XML; OSS differs for listings: no XML namespace, a `<Type>` per object, and oss2
sends empty list parameters (`continuation-token=`) that moto rejects. The adapter fixes exactly
those, and tells moto that a request signed the OSS way is an S3 one; everything else reaches moto
as sent.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import re
import socket
import threading
import urllib.request
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

from focus_assets.focus.writer import OUTPUT_TABLE
from focus_assets.samples.alibaba import history_deliveries, sample_deliveries, write_delivery

from .athena_sql import assert_athena_sql


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_S3_SCOPE = (
    "AWS4-HMAC-SHA256 Credential=oss-dialect/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0"
)


class OssDialect:
    def __init__(self, app):
        self.app = app
        # OSS symlinks, which moto lacks: "/bucket/key" -> x-oss-symlink-target as sent (URL-quoted
        # by oss2's put_symlink, unquoted by its get_symlink). Answered here, without faults.
        self.symlinks: dict[str, str] = {}

    def __call__(self, environ, start_response):
        # moto picks its backend from the Authorization header when that splits like a SigV4
        # scope, "<key>/<date>/<region>/<service>/...". An OSS signature is base64: one with exactly
        # four "/" (about one request in 1,400) named a service moto lacks, and it answered
        # 500. To moto an OSS request is an S3 one, and it checks no signature: say S3.
        if environ.get("HTTP_AUTHORIZATION", "").startswith("OSS"):
            environ["HTTP_AUTHORIZATION"] = _S3_SCOPE
        query = environ.get("QUERY_STRING", "")
        if {"symlink", "symlink="} & set(query.split("&")):
            return self._symlink(environ, start_response)
        environ["QUERY_STRING"] = "&".join(p for p in query.split("&") if p and not p.endswith("="))
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        headers = captured["headers"]
        if b"<ListBucketResult" in body:
            body = re.sub(rb' xmlns="[^"]+"', b"", body)
            body = body.replace(b"</StorageClass>", b"</StorageClass><Type>Normal</Type>")
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [
                ("Content-Length", str(len(body)))
            ]
        start_response(captured["status"], headers)
        return [body]

    def _symlink(self, environ, start_response):
        """PUT /bucket/key?symlink (header x-oss-symlink-target) and GET or HEAD of it."""
        path, body, headers = environ.get("PATH_INFO", ""), b"", []
        if environ["REQUEST_METHOD"] == "PUT":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            self.symlinks[path] = environ.get("HTTP_X_OSS_SYMLINK_TARGET", "")
            status = "200 OK"
        elif path in self.symlinks:
            status, headers = "200 OK", [("x-oss-symlink-target", self.symlinks[path])]
        else:
            status = "404 Not Found"
            body = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code>"
                b"<Message>The specified key does not exist.</Message><RequestId>symlink</RequestId></Error>"
            )
            headers = [("Content-Type", "application/xml")]
        start_response(status, headers + [("x-oss-request-id", "symlink"), ("Content-Length", str(len(body)))])
        return [body]


# What each fault answers: (HTTP status, error code, message). "drop" closes the connection
# before the request reaches moto; "drop_after" lets moto carry it out, then closes the
# connection without an answer (the client cannot know it succeeded, and retries).
_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
    "denied": (403, "AccessDenied", "Access Denied by the fault injector"),
}
_THROTTLING = {
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "oss": (503, "ServiceUnavailable", "Please reduce your request rate."),
    "json": (400, "ThrottlingException", "Rate exceeded"),
}
TRANSIENT = ("500", "503", "throttle", "drop", "drop_after")


@dataclass
class FaultPlan:
    """Faults for the first requests of each service ("s3", "oss", "glue", "athena"; or a service
    and a path prefix, "s3 /focus-lake/"): the n-th planned fault hits that lane's request number
    n * spacing (retries count as requests, so with spacing 2 a fault's retry goes through and
    the next fault hits the next call).
    `permanent` fails every request of a service whose method and path match, e.g.
    {"s3": ("PUT", "/focus-raw/")}."""

    transient: dict[str, list[str]] = field(default_factory=dict)
    spacing: int = 2
    permanent: dict[str, tuple[str, str]] = field(default_factory=dict)
    armed: bool = True  # off while a test sets up its buckets
    requests: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    injected: list[tuple[str, str, str]] = field(default_factory=list)  # (service, fault, request)
    # every request that reached the injector, armed or not: (service, operation) -> count
    calls: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, service: str, environ) -> None:
        with self._lock:
            self.calls[(service, _operation(environ))] += 1

    def fault_for(self, service: str, method: str, path: str) -> str | None:
        with self._lock:
            if not self.armed:
                return None
            if service in self.permanent:
                wanted_method, wanted_path = self.permanent[service]
                if method == wanted_method and path.startswith(wanted_path):
                    fault = "denied"
                else:
                    return None
            else:
                # a plan's key is a service, or a service and a path prefix ("s3 /focus-lake/")
                lane = next(
                    (k for k in self.transient if k.split(" ")[0] == service and path.startswith(k.partition(" ")[2])),
                    None,
                )
                if lane is None:
                    return None
                number = self.requests[lane]
                self.requests[lane] += 1
                index, rest = divmod(number, self.spacing)
                if rest or index >= len(self.transient[lane]):
                    return None
                fault = self.transient[lane][index]
                service = lane
            self.injected.append((service, fault, f"{method} {path}"))
            return fault

    def pending(self) -> dict[str, int]:
        """Planned transient faults not injected yet (a test wants none left)."""
        done = defaultdict(int)
        for service, fault, _ in self.injected:
            done[service] += fault != "denied"
        return {s: len(f) - done[s] for s, f in self.transient.items() if len(f) > done[s]}


_LISTING = {
    "list-type",
    "prefix",
    "delimiter",
    "continuation-token",
    "start-after",
    "max-keys",
    "marker",
    "encoding-type",
    "fetch-owner",
}


def _operation(environ) -> str:
    """Glue's or Athena's operation (X-Amz-Target); for S3 and OSS, "LIST" for a listing of a
    bucket (path-style), else the HTTP method."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rpartition(".")[2]
    method, bucket = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "").strip("/")
    names = {p.partition("=")[0] for p in environ.get("QUERY_STRING", "").split("&") if p}
    if method == "GET" and bucket and "/" not in bucket and names <= _LISTING:
        return "LIST"
    return method


def _service(environ) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    return "glue" if target.startswith("AWSGlue") else "athena" if target.startswith("AmazonAthena") else "s3"


class FaultInjector:
    """WSGI middleware in front of moto: answers planned requests with an error, or drops the
    connection, the way S3, OSS, Glue and Athena do under load."""

    def __init__(self, app, plan: FaultPlan, dialect: str):
        self.app, self.plan, self.dialect = app, plan, dialect  # dialect: "aws" or "oss"

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        service = "oss" if self.dialect == "oss" else _service(environ)
        self.plan.count(service, environ)
        fault = self.plan.fault_for(service, environ["REQUEST_METHOD"], path)
        if fault is None:
            return self.app(environ, start_response)
        if fault == "drop_after":
            b"".join(self.app(environ, lambda *args, **kwargs: lambda data: None))
        if fault in ("drop", "drop_after"):
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError("fault injector: connection dropped")  # werkzeug drops it quietly
        status, code, message = (
            _THROTTLING["json" if service in ("glue", "athena") else service] if fault == "throttle" else _ERRORS[fault]
        )
        if service in ("glue", "athena"):
            body = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/x-amz-json-1.1"
        else:
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>fault-{len(self.plan.injected)}</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))  # the body, unread, would reset
        start_response(
            f"{status} {code}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", f"fault-{len(self.plan.injected)}"),
                ("x-oss-request-id", f"fault-{len(self.plan.injected)}"),
            ],
        )
        return [body]


class AthenaQueryLog:
    """WSGI middleware in front of moto that keeps the text of every query sent to Athena
    (StartQueryExecution, retries included): moto runs no SQL, so the text is checked apart."""

    def __init__(self, app):
        self.app, self.queries = app, []

    def __call__(self, environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").endswith(".StartQueryExecution"):
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)  # read again by moto
            self.queries.append(json.loads(body)["QueryString"])
        return self.app(environ, start_response)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass

    def connection_dropped(self, error, environ=None):
        pass


@contextmanager
def _serve(app):
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def reset_moto(endpoint: str) -> None:
    """moto keeps its state in this process: every use starts from empty buckets and catalogs."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).close()


@contextmanager
def aws_and_oss(faults: FaultPlan | None = None):
    """(S3/Glue/Athena endpoint, OSS endpoint), both on 127.0.0.1, sharing moto's in-process
    state (reset), with `faults` injected in front of both when given. On leaving, fails if a
    query sent to Athena is not Athena SQL (athena_sql.py)."""
    plan = faults or FaultPlan()
    backend = DomainDispatcherApplication(create_backend_app)
    athena_queries = AthenaQueryLog(FaultInjector(backend, plan, "aws"))
    with _serve(athena_queries) as aws, _serve(OssDialect(FaultInjector(backend, plan, "oss"))) as oss:
        reset_moto(aws)
        yield aws, oss
    # Reached when the test passed: every query that reached "Athena" must be Athena's SQL.
    assert_athena_sql(athena_queries.queries, "sent to Athena on moto")


# The `aws` deployment's settings in tests; the OSS keys are recognisable fakes, searched for in
# logs and metadata by the tests.
OSS_KEY_ID, OSS_SECRET = "LTAI-fake-key-id-0042", "fake-oss-secret-4c9e1f"
AWS_KEY_ID, AWS_SECRET = "AKIA-FAKE-KEY-ID-0042", "fake-aws-secret-7d2b0a"
BUCKETS = ("alibaba-export", "focus-raw", "focus-lake", "focus-results")


@dataclass
class AwsDeployment:
    endpoint: str
    s3: object  # a boto3 S3 client
    faults: FaultPlan

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def state(self) -> dict:
        """What a run leaves: every object's bytes (as MD5) in the raw and lake buckets, the
        Glue tables and partitions, and the distinct SQL statements Athena received."""
        objects = {}
        for bucket in ("focus-raw", "focus-lake"):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    body = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                    objects[f"{bucket}/{item['Key']}"] = hashlib.md5(body).hexdigest()
        glue, athena = self.client("glue"), self.client("athena")
        tables = {
            t["Name"]: [c["Name"] for c in t["StorageDescriptor"]["Columns"]]
            for t in glue.get_tables(DatabaseName="focus")["TableList"]
        }
        partitions = sorted(
            (tuple(p["Values"]), p["StorageDescriptor"]["Location"])
            for p in glue.get_partitions(DatabaseName="focus", TableName="focus_alibaba_normalized")["Partitions"]
        )
        queries = {
            athena.get_query_execution(QueryExecutionId=q)["QueryExecution"]["Query"]
            for q in athena.list_query_executions()["QueryExecutionIds"]
        }
        return {"objects": objects, "tables": tables, "partitions": partitions, "queries": sorted(queries)}


@contextmanager
def aws_deployment(tmp_path, monkeypatch, faults: FaultPlan | None = None):
    """The `aws` deployment's environment on local servers, the sample deliveries in the OSS
    bucket; `faults` are armed once the buckets are set up."""
    plan = faults or FaultPlan()
    plan.armed = False
    with aws_and_oss(plan) as (s3_endpoint, oss_endpoint):
        environment = {
            "AWS_ACCESS_KEY_ID": AWS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "FOCUS_DEPLOYMENT": "aws",
            "FOCUS_AWS_REGION": "us-east-1",
            "FOCUS_S3_ENDPOINT_URL": s3_endpoint,
            "FOCUS_ATHENA_ENDPOINT_URL": s3_endpoint,
            "FOCUS_ATHENA_OUTPUT": "s3://focus-results/",
            "FOCUS_RAW_BUCKET": "focus-raw",
            "FOCUS_RAW_PREFIX": "alibaba",
            "FOCUS_LAKE_BUCKET": "focus-lake",
            "FOCUS_LAKE_PREFIX": "lake/",
            "FOCUS_OSS_ENDPOINT": oss_endpoint,
            "FOCUS_OSS_BUCKET": "alibaba-export",
            "FOCUS_OSS_PREFIX": "bills",
            "OSS_ACCESS_KEY_ID": OSS_KEY_ID,
            "OSS_ACCESS_KEY_SECRET": OSS_SECRET,
            "FOCUS_SOURCE_AZURE_TABLE": "azure_focus_export",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        for bucket in BUCKETS:
            client.create_bucket(Bucket=bucket)
        for delivery in sample_deliveries():
            path = write_delivery(tmp_path / "deliveries", delivery)
            client.upload_file(str(path), "alibaba-export", f"bills/{delivery.key}")
        plan.armed = True
        yield AwsDeployment(s3_endpoint, client, plan)


def add_history(deployment: AwsDeployment, deliveries: int) -> None:
    """`deliveries` earlier deliveries, as a deployment holds them after years of days: the export
    objects, their raw copies, typed and quarantine files, ledger rows and Glue partitions, in
    billing months before December 2025. A day's run should never read them, so their bodies are
    placeholders."""
    keys = {"alibaba-export": [], "focus-raw": [], "focus-lake": []}
    partitions = []
    for month, stamp in itertools.islice(history_deliveries(newest=date(2025, 11, 30)), deliveries):
        export = f"focus-export/{month}/{stamp}/1234567890123456_26842_BillingItemDetail_{month}.csv.gz"
        keys["alibaba-export"].append(f"bills/{export}")
        keys["focus-raw"].append(f"alibaba/{export}")
        for table in ("focus_alibaba_normalized", "focus_alibaba_quarantine"):
            keys["focus-lake"].append(f"lake/{table}/yearmonth={month}/batch_ts={stamp}/part-0.parquet")
        keys["focus-lake"].append(f"lake/alibaba_deliveries/{month}_{stamp}.parquet")
        partitions.append((month, stamp))
    # Into moto's backend directly (it runs in this process): thousands of HTTP puts took half a
    # minute, and they are the history's setup, not requests of the run under test.
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID][deployment.s3.meta.partition]
    for bucket, names in keys.items():
        for key in names:
            backend.put_object(bucket, key, b"x")
    glue = deployment.client("glue")
    for start in range(0, len(partitions), 100):
        glue.batch_create_partition(
            DatabaseName="focus",
            TableName=OUTPUT_TABLE,
            PartitionInputList=[
                {
                    "Values": list(p),
                    "StorageDescriptor": {
                        "Location": f"s3://focus-lake/lake/{OUTPUT_TABLE}/yearmonth={p[0]}/batch_ts={p[1]}/"
                    },
                }
                for p in partitions[start : start + 100]
            ],
        )
