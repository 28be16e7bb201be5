"""Object stores as Dagster resources: the OSS export bucket, the raw S3 bucket and the lake.

Each resource holds a deployment's settings and hands out, with `get_bucket()`, a plain bucket of
`focus_assets/storage/` that does the work (no Dagster there, so the Function Compute handler and
the Dagster-free modules of `focus/` use the same code). Which resource
each deployment gets is chosen in `focus_assets/deployment.py`: `LocalFolderStore` (the embedded
default) keeps each bucket as a folder; `OssStore` reads Alibaba's bucket with oss2 and `S3Store`
uses S3 through dagster-aws. Copies go through a local temporary file, streamed.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from ..focus.export_layout import ExportLayout
from ..focus.export_sources import DEFAULT_SOURCE, SourceBuckets, raw_prefix
from ..storage.base import Bucket, StorageError, StoredObject
from ..storage.local import LocalFolder
from ..storage.oss import OssBucket
from ..storage.s3 import S3Bucket, aws_errors

__all__ = [
    "ObjectStore",
    "LocalFolderStore",
    "OssStore",
    "S3Store",
    "ExportSourceStore",
    "ExportSources",
    "StorageError",
    "StoredObject",
    "aws_errors",
]


class ObjectStore(dg.ConfigurableResource):
    """A bucket's settings; `get_bucket()` hands out the plain `storage.base.Bucket` that does the work."""

    # Enforced: Dagster's resource metaclass derives from pydantic's, which derives from ABCMeta.
    @abstractmethod
    def get_bucket(self) -> Bucket:
        """The bucket these settings describe."""

    def storage_options(self) -> dict[str, str | int] | None:
        """What polars needs to read the bucket's `location()`s (None for local files)."""
        return None


class LocalFolderStore(ObjectStore):
    """A folder playing a bucket (see `storage.local.LocalFolder`)."""

    root: str
    prefix: str = ""

    def get_bucket(self) -> LocalFolder:
        return LocalFolder(self.root, self.prefix)


class OssStore(ObjectStore):
    """Alibaba Cloud OSS through oss2. Keys and secrets come from the environment (EnvVar) and
    never appear in logs or metadata."""

    endpoint: str
    bucket: str
    prefix: str = ""
    access_key_id: str
    access_key_secret: str
    # Temporary credentials (STS, e.g. from RAM OIDC federation) come with a token.
    security_token: str | None = None

    def get_bucket(self) -> OssBucket:
        return OssBucket(
            self.endpoint, self.bucket, self.access_key_id, self.access_key_secret, self.prefix, self.security_token
        )


class S3Store(ObjectStore):
    """An S3 bucket (and prefix) through dagster-aws's S3Resource."""

    s3: S3Resource
    bucket: str
    prefix: str = ""
    # One client for the resource's life: S3Resource.get_client() builds a new boto3 session each
    # time, which would dominate a sensor tick or a day of small calls (benchmarks/incremental.py).
    _cached: S3Bucket | None = PrivateAttr(default=None)

    def get_bucket(self) -> S3Bucket:
        if self._cached is None:
            client = self.s3.get_client()  # boto3 clients are thread-safe
            self._cached = S3Bucket(lambda: client, self.bucket, self.prefix)
        return self._cached

    def storage_options(self) -> dict[str, str | int] | None:
        # polars retries 5xx, throttling and dropped connections itself, with backoff
        options = {"aws_region": self.s3.region_name or "us-east-1", "max_retries": 6}
        if self.s3.endpoint_url:
            options.update(aws_endpoint_url=self.s3.endpoint_url, aws_allow_http="true")
        if self.s3.aws_access_key_id and self.s3.aws_secret_access_key:
            options.update(
                aws_access_key_id=self.s3.aws_access_key_id, aws_secret_access_key=self.s3.aws_secret_access_key
            )
            if self.s3.aws_session_token:
                options.update(aws_session_token=self.s3.aws_session_token)
        return options


class ExportSourceStore(dg.Config):
    """One export source as a run reads it (focus/export_sources.py): its name, its Bill
    Subscription's directory and where its bucket is. With neither a folder nor an OSS bucket, it
    is read from its copies in the raw bucket (push mode: Function Compute copied them there)."""

    name: str = DEFAULT_SOURCE
    export_prefix: str = "focus-export/"
    folder: str | None = None  # a local folder playing its export bucket
    oss_endpoint: str | None = None
    oss_bucket: str | None = None
    oss_prefix: str = ""
    access_key_id: str | None = None  # EnvVar: never in logs or metadata
    access_key_secret: str | None = None
    security_token: str | None = None

    def get_bucket(self, raw: Bucket | None) -> Bucket:
        """Its export bucket; `raw` is the raw bucket, which a push-mode source is read from."""
        if self.folder is not None:
            return LocalFolder(self.folder)
        if self.oss_bucket is not None and self.oss_endpoint is not None:
            return OssBucket(
                self.oss_endpoint,
                self.oss_bucket,
                self.access_key_id or "",
                self.access_key_secret or "",
                self.oss_prefix,
                self.security_token,
            )
        if raw is None:
            raise ValueError(f"export source {self.name!r} is read from the raw bucket, and none was given")
        return raw.under(raw_prefix(self.name))


class ExportSources(dg.ConfigurableResource):
    """The export sources a deployment reads: one per Alibaba account's Bill Subscription."""

    sources: list[ExportSourceStore]

    def open(self, raw: Bucket | None, layout_of: Callable[[str], ExportLayout]) -> list[SourceBuckets]:
        """Each source's export bucket, its folder of the raw bucket (None without `raw`: the
        sensor reads only the export) and its layout (from its export prefix)."""
        return [
            SourceBuckets(
                s.name,
                s.get_bucket(raw),
                raw.under(raw_prefix(s.name)) if raw is not None else None,
                layout_of(s.export_prefix),
            )
            for s in self.sources
        ]
