"""S3 through boto3 (the raw bucket and the lake on AWS)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3.exceptions
import boto3.s3.transfer
import botocore.exceptions

from ..focus.names import object_key
from .base import Bucket, StorageError, StoredObject

SINGLE_PART_BYTES = 64 * 1024**2  # below: one PUT, so the ETag is the MD5 and can be compared
# Objects people open in a browser (the cost report): served as what they are, not downloaded.
_CONTENT_TYPES = {".html": "text/html; charset=utf-8"}


@contextmanager
def aws_errors(what: str, error: type[Exception] = StorageError) -> Iterator[None]:
    """boto3 has already retried transient errors (standard mode, with backoff); what is left is
    permanent: one line naming the call (`what`, e.g. "S3 listing s3://b/p"), with the service's
    code and message."""
    try:
        yield
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        boto3.exceptions.S3UploadFailedError,
    ) as exc:
        cause = (
            exc.__context__ if isinstance(exc.__context__, botocore.exceptions.ClientError) else exc
        )  # upload_file wraps
        if isinstance(cause, botocore.exceptions.ClientError):
            detail = cause.response.get("Error", {})
            raise error(f"{what} failed: {detail.get('Code', '?')}: {detail.get('Message') or 'no message'}") from None
        raise error(f"{what} failed: {str(exc).splitlines()[0]}") from None


class S3Bucket(Bucket):
    """An S3 bucket and prefix; `client` makes a boto3 S3 client (retries in standard mode)."""

    def __init__(self, client: Callable[[], object], bucket: str, prefix: str = ""):
        self._client, self.bucket, self.prefix = client, bucket, prefix

    def under(self, prefix: str) -> S3Bucket:
        return S3Bucket(self._client, self.bucket, self.prefix + prefix)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def location(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:  # ETags come with the listing
        found = []
        with aws_errors(f"S3 listing {self.describe()}{prefix}"):
            for page in (
                self._client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=self.prefix + prefix)
            ):
                for item in page.get("Contents", []):
                    found.append(
                        StoredObject(
                            item["Key"][len(self.prefix) :],
                            item["Size"],
                            item["ETag"].strip('"').lower(),
                            item["LastModified"],
                        )
                    )
        return found

    def list_folders(self, prefix: str = "") -> list[str]:
        folders = []
        with aws_errors(f"S3 listing folders of {self.describe()}{prefix}"):
            for page in (
                self._client()
                .get_paginator("list_objects_v2")
                .paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/")
            ):
                folders.extend(p["Prefix"][len(self.prefix) :] for p in page.get("CommonPrefixes", []))
        return sorted(folders)

    def _head(self, key: str) -> dict | None:
        with aws_errors(f"S3 reading the metadata of {self.describe()}{object_key(key)}"):
            try:
                return self._client().head_object(Bucket=self.bucket, Key=self.prefix + key)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise

    def head(self, key: str) -> StoredObject | None:
        meta = self._head(key)
        if meta is None:
            return None
        return StoredObject(key, meta["ContentLength"], meta["ETag"].strip('"').lower(), meta["LastModified"])

    def metadata(self, key: str) -> dict[str, str]:
        meta = self._head(key)
        return dict(meta.get("Metadata", {})) if meta else {}

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="focus-assets-s3-") as folder:
            target = Path(folder) / Path(object_key(key)).name
            with aws_errors(f"S3 reading {self.describe()}{key}"):
                self._client().download_file(self.bucket, self.prefix + key, str(target))  # streamed, retried by boto3
            yield target

    def delete(self, key: str) -> None:
        with aws_errors(f"S3 deleting {self.describe()}{object_key(key)}"):
            self._client().delete_object(Bucket=self.bucket, Key=self.prefix + key)

    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        config = boto3.s3.transfer.TransferConfig(multipart_threshold=SINGLE_PART_BYTES)
        extra = {"Metadata": metadata} if metadata else {}
        if content_type := _CONTENT_TYPES.get(Path(key).suffix):
            extra["ContentType"] = content_type
        with aws_errors(f"S3 writing {self.describe()}{object_key(key)}"):
            self._client().upload_file(
                str(source), self.bucket, self.prefix + key, Config=config, ExtraArgs=extra or None
            )
        copied = self.head(key)
        if etag is not None and copied.size < SINGLE_PART_BYTES and copied.etag != etag:
            raise OSError(f"{key}: copy has ETag {copied.etag}, source had {etag}")
        return copied
