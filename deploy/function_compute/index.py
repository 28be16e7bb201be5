"""Function Compute handler of the push mode (Python 3.12 runtime, handler `index.handler`).

An OSS trigger on the export bucket calls it for each object Alibaba's Bill Subscription writes;
it copies the object into the raw S3 bucket byte for byte, at most once, with the project's own
storage code (focus_assets.storage: the pull mode's copy, retries and error messages). The AWS
side then only reads S3. Configuration: environment variables (docs/function_compute.md).

Needs oss2 and boto3 only: no Dagster, polars, pyarrow or duckdb in the package.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
from dataclasses import dataclass

import boto3
from botocore.config import Config

from focus_assets.focus import names
from focus_assets.storage.oss import OssBucket
from focus_assets.storage.oss_events import internal_endpoint, parse_events, replicate
from focus_assets.storage.s3 import S3Bucket

logger = logging.getLogger("focus_assets.function")
logger.setLevel(logging.INFO)
# oss2 logs every request's headers at DEBUG, the STS security token among them, and botocore its
# requests: they stay at WARNING whatever level the runtime's logging is set to.
CLIENT_LOGGERS = ("oss2", "botocore", "boto3", "s3transfer", "urllib3")


def quiet_client_loggers() -> None:
    for name in CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_client_loggers()

_ENDPOINT = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/?")


class ConfigError(ValueError):
    """A missing or malformed setting: one line naming it."""


@dataclass(frozen=True)
class Settings:
    s3_bucket: str
    s3_prefix: str
    s3_region: str
    s3_endpoint: str | None
    oss_endpoint: str | None  # None: the event region's internal endpoint
    oss_prefix: str
    export_prefix: str


def settings(environ=os.environ) -> Settings:
    """The function's settings, each checked (focus.names) before it reaches a key or a URL."""

    def required(name: str) -> str:
        value = environ.get(name, "").strip()
        if not value:
            raise ConfigError(f"{name} is not set")
        return value

    def endpoint(name: str) -> str | None:
        value = environ.get(name, "").strip() or None
        if value is not None and not _ENDPOINT.fullmatch(value):
            raise ConfigError(f"{name}={value!r} is refused: an http(s)://host[:port] URL")
        return value

    # boto3 reads the keys itself (or a web identity token): the code only checks they are there.
    if not (environ.get("AWS_ACCESS_KEY_ID") and environ.get("AWS_SECRET_ACCESS_KEY")) and not (
        environ.get("AWS_ROLE_ARN") and environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    ):
        raise ConfigError(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (nor AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE)"
        )
    return Settings(
        s3_bucket=names.bucket(required("S3_BUCKET_NAME"), "S3_BUCKET_NAME"),
        s3_prefix=names.key_prefix(environ.get("S3_PREFIX", ""), "S3_PREFIX"),
        s3_region=names.aws_region(required("S3_REGION"), "S3_REGION"),
        s3_endpoint=endpoint("S3_ENDPOINT_URL"),
        oss_endpoint=endpoint("OSS_ENDPOINT"),
        oss_prefix=names.key_prefix(environ.get("OSS_PREFIX", ""), "OSS_PREFIX"),
        export_prefix=names.key_prefix(environ.get("EXPORT_PREFIX") or "focus-export/", "EXPORT_PREFIX"),
    )


@functools.lru_cache(maxsize=4)
def _s3_client(region: str, endpoint: str | None):
    """One client per instance: Function Compute reuses warm instances, and a client takes a
    moment to build. Standard retry mode: throttling, 5xx and dropped connections, with backoff."""
    return boto3.client(
        "s3", region_name=region, endpoint_url=endpoint, config=Config(retries={"mode": "standard", "max_attempts": 8})
    )


def _oss_credentials(context) -> tuple[str, str, str | None]:
    """The function's RAM role (STS credentials in the context), else OSS_ACCESS_KEY_ID/_SECRET
    (and OSS_SECURITY_TOKEN) from the environment."""
    credentials = getattr(context, "credentials", None)
    if getattr(credentials, "access_key_id", None):
        return (
            credentials.access_key_id,
            credentials.access_key_secret,
            getattr(credentials, "security_token", None) or None,
        )
    key_id, secret = os.environ.get("OSS_ACCESS_KEY_ID"), os.environ.get("OSS_ACCESS_KEY_SECRET")
    if not (key_id and secret):
        raise ConfigError(
            "no OSS credentials: give the function a RAM role, or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"
        )
    return key_id, secret, os.environ.get("OSS_SECURITY_TOKEN") or None


def handler(event, context):
    """Copy the objects of an OSS trigger's events; returns a JSON summary
    {"copied": [...], "skipped": [...], "ignored": [...]}. A permanent failure raises (one line
    naming the object), so that Function Compute's retry applies."""
    config = settings()
    events = parse_events(event)
    key_id, secret, token = _oss_credentials(context)
    target = S3Bucket(lambda: _s3_client(config.s3_region, config.s3_endpoint), config.s3_bucket, config.s3_prefix)
    sources = {}

    def source_for(oss_event) -> OssBucket:
        endpoint = config.oss_endpoint or internal_endpoint(oss_event.region)
        bucket = names.bucket(oss_event.bucket, "oss.bucket.name")
        if (endpoint, bucket) not in sources:
            sources[endpoint, bucket] = OssBucket(
                endpoint, bucket, key_id, secret, prefix=config.oss_prefix, security_token=token
            )
        return sources[endpoint, bucket]

    summary = replicate(events, source_for, target, config.export_prefix, config.oss_prefix, logger)
    return json.dumps(summary)
