"""Alibaba Cloud OSS through oss2: the bucket Alibaba's Bill Subscription delivers to."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import oss2

from ..focus.names import object_key
from .base import Bucket, StorageError, StoredObject

_TRANSIENT_ATTEMPTS = 5
LIST_PAGE_KEYS = 1000  # OSS's maximum per list request, as S3's default; oss2 asks for 100 unless told


def _oss_transient(exc: Exception) -> bool:
    """Connection failures, 5xx and throttling are worth another try; 4xx answers are not."""
    return isinstance(exc, (oss2.exceptions.RequestError, oss2.exceptions.InconsistentError)) or (
        isinstance(exc, oss2.exceptions.ServerError) and (exc.status >= 500 or exc.status == 429)
    )


def _oss_call(action, what: str):
    """Run an oss2 call, retrying transient errors with exponential backoff (0.2 s, 0.4 s, ...);
    a permanent error becomes a StorageError naming the call and OSS's code and message."""
    for attempt in range(_TRANSIENT_ATTEMPTS):
        try:
            return action()
        except oss2.exceptions.OssError as exc:
            if not _oss_transient(exc) or attempt == _TRANSIENT_ATTEMPTS - 1:
                detail = (
                    f"{exc.code or 'HTTP ' + str(exc.status)}: {exc.message or 'no message'}"
                    if isinstance(exc, oss2.exceptions.ServerError)
                    else type(exc).__name__
                )
                raise StorageError(
                    f"OSS {what} failed after {attempt + 1} attempt(s): {detail} (request id {exc.request_id or '-'})"
                ) from None
            time.sleep(0.2 * 2**attempt)
    raise AssertionError(what)  # unreachable


class OssBucket(Bucket):
    """Keys and secrets are given by the caller (from the environment) and never appear in logs,
    descriptions or errors. With `security_token`, the keys are temporary STS credentials (a RAM
    role: Function Compute's, or OIDC federation)."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key_id: str,
        access_key_secret: str,
        prefix: str = "",
        security_token: str | None = None,
    ):
        auth = (
            oss2.StsAuth(access_key_id, access_key_secret, security_token)
            if security_token
            else oss2.Auth(access_key_id, access_key_secret)
        )
        self.client = oss2.Bucket(auth, endpoint, bucket)
        self.bucket, self.prefix = bucket, prefix

    def describe(self) -> str:
        return f"oss://{self.bucket}/{self.prefix}"

    def location(self, key: str = "") -> str:
        return f"oss://{self.bucket}/{self.prefix}{key}"

    def _stored(self, key: str, size: int, etag: str, last_modified: int) -> StoredObject:
        return StoredObject(
            key[len(self.prefix) :],
            size,
            etag.strip('"').lower(),
            datetime.fromtimestamp(last_modified, tz=UTC),
        )

    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:  # ETags come with the listing
        listing = _oss_call(
            lambda: list(oss2.ObjectIteratorV2(self.client, prefix=self.prefix + prefix, max_keys=LIST_PAGE_KEYS)),
            f"listing {self.describe()}{prefix}",
        )
        return [self._stored(o.key, o.size, o.etag, o.last_modified) for o in listing if not o.is_prefix()]

    def list_folders(self, prefix: str = "") -> list[str]:
        listing = _oss_call(
            lambda: list(
                oss2.ObjectIteratorV2(self.client, prefix=self.prefix + prefix, delimiter="/", max_keys=LIST_PAGE_KEYS)
            ),
            f"listing folders of {self.describe()}{prefix}",
        )
        return sorted(o.key[len(self.prefix) :] for o in listing if o.is_prefix())

    def head(self, key: str) -> StoredObject | None:
        def head_or_none():
            try:
                return self.client.head_object(self.prefix + key)
            except oss2.exceptions.NotFound:
                return None

        meta = _oss_call(head_or_none, f"reading the metadata of {self.describe()}{object_key(key)}")
        if meta is None:
            return None
        return self._stored(self.prefix + key, meta.content_length, meta.etag, meta.last_modified)

    def symlink_target(self, key: str) -> str:
        """The key (relative to the prefix) a symlink points to."""
        result = _oss_call(
            lambda: self.client.get_symlink(self.prefix + object_key(key)),
            f"reading the symlink {self.describe()}{key}",
        )
        target = result.target_key
        if not target.startswith(self.prefix):
            raise StorageError(f"OSS symlink {self.describe()}{key} points outside the prefix: {target!r}")
        return object_key(target[len(self.prefix) :])

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="focus-assets-oss-") as folder:
            target = Path(folder) / Path(object_key(key)).name
            _oss_call(
                lambda: self.client.get_object_to_file(self.prefix + key, str(target)),
                f"reading {self.describe()}{key}",
            )
            yield target

    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        headers = {f"x-oss-meta-{k}": v for k, v in (metadata or {}).items()}
        _oss_call(
            lambda: self.client.put_object_from_file(self.prefix + object_key(key), str(source), headers=headers),
            f"writing {self.describe()}{key}",
        )
        return self.head(key)

    def delete(self, key: str) -> None:
        # The export bucket is Alibaba's and only read (the RAM policy grants list and get): never deleted from.
        raise StorageError(f"OSS {self.describe()}{key}: nothing is deleted from the export bucket, it is only read")
