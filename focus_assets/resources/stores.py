"""Object stores as Dagster resources: the OSS export bucket, the raw S3 bucket and the lake.

Each resource holds a deployment's settings and opens a plain bucket of `focus_assets/storage/`
(no Dagster there, so the Function Compute handler copies with the same code). Which resource
each deployment gets is chosen in `focus_assets/deployment.py`: `LocalFolderStore` (the embedded
default) keeps each bucket as a folder; `OssStore` reads Alibaba's bucket with oss2 and `S3Store`
uses S3 through dagster-aws. Copies go through a local temporary file, streamed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr

from ..storage.base import Bucket, StorageError, StoredObject
from ..storage.local import LocalFolder
from ..storage.oss import OssBucket
from ..storage.s3 import S3Bucket, aws_errors

__all__ = ["ObjectStore", "LocalFolderStore", "OssStore", "S3Store", "StorageError", "StoredObject", "aws_errors"]


class ObjectStore(dg.ConfigurableResource):
    """A bucket (or a prefix in one); the methods are those of `storage.base.Bucket`."""

    def open(self) -> Bucket:
        raise NotImplementedError

    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:
        return self.open().list_objects(prefix, etags)

    def list_folders(self, prefix: str = "") -> list[str]:
        return self.open().list_folders(prefix)

    def head(self, key: str) -> StoredObject | None:
        return self.open().head(key)

    def metadata(self, key: str) -> dict[str, str]:
        return self.open().metadata(key)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with self.open().local_copy(key) as path:
            yield path

    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        return self.open().upload(source, key, etag, metadata)

    def delete(self, key: str) -> None:
        self.open().delete(key)

    @contextmanager
    def writable_root(self) -> Iterator[Path]:
        with self.open().writable_root() as root:
            yield root

    def describe(self) -> str:
        return self.open().describe()

    def location(self, key: str = "") -> str:
        return self.open().location(key)

    def storage_options(self) -> dict[str, str | int] | None:
        """What polars needs to read `location()`s (None for local files)."""
        return None


class LocalFolderStore(ObjectStore):
    """A folder playing a bucket (see `storage.local.LocalFolder`)."""

    root: str
    prefix: str = ""

    def open(self) -> LocalFolder:
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

    def open(self) -> OssBucket:
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
    _opened: S3Bucket | None = PrivateAttr(default=None)

    def open(self) -> S3Bucket:
        if self._opened is None:
            client = self.s3.get_client()  # boto3 clients are thread-safe
            self._opened = S3Bucket(lambda: client, self.bucket, self.prefix)
        return self._opened

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
