"""Object stores: the OSS export bucket, the raw S3 bucket and the lake, behind one interface.

The assets read and write through `ObjectStore`; which implementation they get is chosen per
deployment in `focus_assets/deployment.py`. `LocalFolderStore` (the embedded default) keeps each
bucket as a folder; `OssStore` reads Alibaba's bucket with oss2 and `S3Store` uses S3 through
dagster-aws. Copies go through a local temporary file, streamed, never whole in memory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import boto3
import boto3.exceptions
import boto3.s3.transfer
import botocore.exceptions
import dagster as dg
import oss2
from dagster_aws.s3 import S3Resource

from ..focus.names import object_key
from ..focus.writer import process_alive, staging_path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the store's prefix
    size: int
    etag: str
    last_modified: datetime


class ObjectStore(dg.ConfigurableResource):
    """A bucket (or a prefix in one)."""

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        raise NotImplementedError

    def list_folders(self, prefix: str = "") -> list[str]:
        """The immediate sub-folders under `prefix` (a delimiter listing), as 'prefix/name/'."""
        raise NotImplementedError

    def head(self, key: str) -> StoredObject | None:
        raise NotImplementedError

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The object as a local file, for as long as the context lasts."""
        raise NotImplementedError
        yield Path()  # pragma: no cover

    def upload(self, source: Path, key: str, etag: str | None = None) -> StoredObject:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Remove `key` if it is there."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def location(self, key: str = "") -> str:
        """A URI of `key` that polars and the query engines read (a path, or s3://...)."""
        raise NotImplementedError

    def storage_options(self) -> dict[str, str | int] | None:
        """What polars needs to read `location()`s (None for local files)."""
        return None

    @contextmanager
    def writable_root(self) -> Iterator[Path]:
        """A local folder to write files into; when the block ends without error, every file in it
        is stored under its relative path (a store on local disk writes in place)."""
        with tempfile.TemporaryDirectory(prefix="focus-assets-stage-") as folder:
            yield Path(folder)
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    self.upload(path, path.relative_to(folder).as_posix())


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalFolderStore(ObjectStore):
    """A folder playing a bucket: keys are paths under `root/prefix`; the ETag is the MD5 of the
    content, as S3 and OSS give for a single-part upload."""

    root: str
    prefix: str = ""

    @property
    def base(self) -> Path:
        return Path(self.root) / self.prefix

    def describe(self) -> str:
        return f"folder {self.base}"

    def _object(self, path: Path) -> StoredObject:
        stat = path.stat()
        return StoredObject(path.relative_to(self.base).as_posix(), stat.st_size, _md5(path),
                            datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc))

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        start = self.base / prefix
        if not start.exists():
            return []
        return [self._object(p) for p in sorted(start.rglob("*"))  # hidden files and folders are staging
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.base).parts)]

    def list_folders(self, prefix: str = "") -> list[str]:
        start = self.base / prefix
        if not start.is_dir():
            return []
        return sorted(f"{prefix}{p.name}/" for p in start.iterdir() if p.is_dir() and not p.name.startswith("."))

    def _path(self, key: str) -> Path:
        return self.base / object_key(key)  # a key never leads out of the folder

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        return self._object(path) if path.is_file() else None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self._path(key)

    def location(self, key: str = "") -> str:
        return str(self.base / key)

    @contextmanager
    def writable_root(self) -> Iterator[Path]:
        """A hidden staging folder in the store, moved into place file by file (renames) when the
        block succeeds and removed when it fails: a failed run leaves what was there untouched."""
        self.base.mkdir(parents=True, exist_ok=True)
        for leftover in self.base.glob(".staging-*"):  # of runs killed before they could clean up
            pid = leftover.name.split("-")[1]
            if pid.isdigit() and not process_alive(int(pid)):
                shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".staging-{os.getpid()}-", dir=self.base))
        try:
            yield staging
            for path in sorted(staging.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    target = self._path(path.relative_to(staging).as_posix())
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def upload(self, source: Path, key: str, etag: str | None = None) -> StoredObject:
        """Copy in, streamed, under a hidden name first and renamed when complete."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_path(target)
        with open(source, "rb") as reader, open(staging, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
        os.replace(staging, target)
        copied = self._object(target)
        if etag is not None and copied.etag != etag:
            raise OSError(f"{key}: copy has ETag {copied.etag}, source had {etag}")
        return copied



_TRANSIENT_ATTEMPTS = 5


class StorageError(OSError):
    """A storage call that failed for good: one line with the service's own code and message."""


def _oss_transient(exc: Exception) -> bool:
    """Connection failures, 5xx and throttling are worth another try; 4xx answers are not."""
    return isinstance(exc, (oss2.exceptions.RequestError, oss2.exceptions.InconsistentError)) or (
        isinstance(exc, oss2.exceptions.ServerError) and (exc.status >= 500 or exc.status == 429))


def _oss_call(action, what: str):
    """Run an oss2 call, retrying transient errors with exponential backoff (0.2 s, 0.4 s, ...);
    a permanent error becomes a StorageError naming the call and OSS's code and message."""
    for attempt in range(_TRANSIENT_ATTEMPTS):
        try:
            return action()
        except oss2.exceptions.OssError as exc:
            if not _oss_transient(exc) or attempt == _TRANSIENT_ATTEMPTS - 1:
                detail = (f"{exc.code or 'HTTP ' + str(exc.status)}: {exc.message or 'no message'}"
                          if isinstance(exc, oss2.exceptions.ServerError) else type(exc).__name__)
                raise StorageError(f"OSS {what} failed after {attempt + 1} attempt(s): {detail}"
                                   f" (request id {exc.request_id or '-'})") from None
            time.sleep(0.2 * 2**attempt)
    raise AssertionError(what)  # unreachable


class OssStore(ObjectStore):
    """Alibaba Cloud OSS through oss2: the bucket Alibaba's Bill Subscription delivers to. Keys
    and secrets come from the environment (EnvVar) and never appear in logs or metadata."""

    endpoint: str
    bucket: str
    prefix: str = ""
    access_key_id: str
    access_key_secret: str
    # Temporary credentials (STS, e.g. from RAM OIDC federation) come with a token.
    security_token: str | None = None

    def _bucket(self) -> oss2.Bucket:
        auth = (oss2.StsAuth(self.access_key_id, self.access_key_secret, self.security_token) if self.security_token
                else oss2.Auth(self.access_key_id, self.access_key_secret))
        return oss2.Bucket(auth, self.endpoint, self.bucket)

    def describe(self) -> str:
        return f"oss://{self.bucket}/{self.prefix}"

    def _stored(self, key: str, size: int, etag: str, last_modified: int) -> StoredObject:
        return StoredObject(key[len(self.prefix):], size, etag.strip('"').lower(),
                            datetime.fromtimestamp(last_modified, tz=timezone.utc))

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        listing = _oss_call(lambda: list(oss2.ObjectIteratorV2(self._bucket(), prefix=self.prefix + prefix)),
                            f"listing {self.describe()}{prefix}")
        return [self._stored(o.key, o.size, o.etag, o.last_modified) for o in listing if not o.is_prefix()]

    def list_folders(self, prefix: str = "") -> list[str]:
        listing = _oss_call(lambda: list(oss2.ObjectIteratorV2(self._bucket(), prefix=self.prefix + prefix, delimiter="/")),
                            f"listing folders of {self.describe()}{prefix}")
        return sorted(o.key[len(self.prefix):] for o in listing if o.is_prefix())

    def head(self, key: str) -> StoredObject | None:
        def head_or_none():
            try:
                return self._bucket().head_object(self.prefix + key)
            except oss2.exceptions.NotFound:
                return None

        meta = _oss_call(head_or_none, f"reading the metadata of {self.describe()}{object_key(key)}")
        if meta is None:
            return None
        return self._stored(self.prefix + key, meta.content_length, meta.etag, meta.last_modified)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="focus-assets-oss-") as folder:
            target = Path(folder) / Path(object_key(key)).name
            _oss_call(lambda: self._bucket().get_object_to_file(self.prefix + key, str(target)),
                      f"reading {self.describe()}{key}")
            yield target

    def upload(self, source: Path, key: str, etag: str | None = None) -> StoredObject:
        _oss_call(lambda: self._bucket().put_object_from_file(self.prefix + object_key(key), str(source)),
                  f"writing {self.describe()}{key}")
        return self.head(key)


_SINGLE_PART_BYTES = 64 * 1024**2  # below: one PUT, so the ETag is the MD5 and can be compared


@contextmanager
def aws_errors(what: str, error: type[Exception] = StorageError) -> Iterator[None]:
    """boto3 has already retried transient errors (standard mode, with backoff); what is left is
    permanent: one line naming the call (`what`, e.g. "S3 listing s3://b/p"), with the service's
    code and message."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, boto3.exceptions.S3UploadFailedError) as exc:
        cause = exc.__context__ if isinstance(exc.__context__, botocore.exceptions.ClientError) else exc  # upload_file wraps
        if isinstance(cause, botocore.exceptions.ClientError):
            detail = cause.response.get("Error", {})
            raise error(f"{what} failed: {detail.get('Code', '?')}: {detail.get('Message') or 'no message'}") from None
        raise error(f"{what} failed: {str(exc).splitlines()[0]}") from None


class S3Store(ObjectStore):
    """An S3 bucket (and prefix) through dagster-aws's S3Resource."""

    s3: S3Resource
    bucket: str
    prefix: str = ""

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _client(self):
        return self.s3.get_client()

    def location(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def storage_options(self) -> dict[str, str | int] | None:
        # polars retries 5xx, throttling and dropped connections itself, with backoff
        options = {"aws_region": self.s3.region_name or "us-east-1", "max_retries": 6}
        if self.s3.endpoint_url:
            options.update(aws_endpoint_url=self.s3.endpoint_url, aws_allow_http="true")
        if self.s3.aws_access_key_id and self.s3.aws_secret_access_key:
            options.update(aws_access_key_id=self.s3.aws_access_key_id, aws_secret_access_key=self.s3.aws_secret_access_key)
            if self.s3.aws_session_token:
                options.update(aws_session_token=self.s3.aws_session_token)
        return options

    def list_objects(self, prefix: str = "") -> list[StoredObject]:
        found = []
        with aws_errors(f"S3 listing {self.describe()}{prefix}"):
            for page in self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", []):
                    found.append(StoredObject(item["Key"][len(self.prefix):], item["Size"], item["ETag"].strip('"').lower(),
                                              item["LastModified"]))
        return found

    def list_folders(self, prefix: str = "") -> list[str]:
        folders = []
        with aws_errors(f"S3 listing folders of {self.describe()}{prefix}"):
            for page in self._client().get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, Delimiter="/"):
                folders.extend(p["Prefix"][len(self.prefix):] for p in page.get("CommonPrefixes", []))
        return sorted(folders)

    def head(self, key: str) -> StoredObject | None:
        with aws_errors(f"S3 reading the metadata of {self.describe()}{object_key(key)}"):
            try:
                meta = self._client().head_object(Bucket=self.bucket, Key=self.prefix + key)
            except botocore.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
        return StoredObject(key, meta["ContentLength"], meta["ETag"].strip('"').lower(), meta["LastModified"])

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

    def upload(self, source: Path, key: str, etag: str | None = None) -> StoredObject:
        config = boto3.s3.transfer.TransferConfig(multipart_threshold=_SINGLE_PART_BYTES)
        with aws_errors(f"S3 writing {self.describe()}{object_key(key)}"):
            self._client().upload_file(str(source), self.bucket, self.prefix + key, Config=config)
        copied = self.head(key)
        if etag is not None and copied.size < _SINGLE_PART_BYTES and copied.etag != etag:
            raise OSError(f"{key}: copy has ETag {copied.etag}, source had {etag}")
        return copied
