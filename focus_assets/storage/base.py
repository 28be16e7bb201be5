"""The interface every bucket has, and what they share."""

from __future__ import annotations

import hashlib
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the bucket's prefix
    size: int
    etag: str  # lower-case hex, no quotes
    last_modified: datetime


class StorageError(OSError):
    """A storage call that failed for good: one line with the service's own code and message."""


class Bucket(ABC):
    """A bucket, or a prefix in one. Keys are relative to the prefix."""

    @abstractmethod
    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:
        """The objects under `prefix`. etags=False: the ETag may be left empty where it costs
        reading the object (a local folder hashes each file), for listings that need only keys."""

    @abstractmethod
    def list_folders(self, prefix: str = "") -> list[str]:
        """The immediate sub-folders under `prefix` (a delimiter listing), as 'prefix/name/'."""

    @abstractmethod
    def head(self, key: str) -> StoredObject | None:
        """The object's listing entry, or None when `key` is not there."""

    @abstractmethod
    def local_copy(self, key: str) -> AbstractContextManager[Path]:
        """The object as a local file, for as long as the context lasts (a `@contextmanager`)."""

    @abstractmethod
    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        """Store a local file under `key`; with `etag`, check that the copy has it (when the
        service's ETag is the content's MD5). `metadata`: user metadata to keep with it."""

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata stored with `key` ({} when none)."""
        return {}

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key` if it is there."""

    @abstractmethod
    def describe(self) -> str:
        """Where the bucket is, for logs and metadata (never a credential)."""

    @abstractmethod
    def location(self, key: str = "") -> str:
        """A URI of `key` that polars and the query engines read (a path, or s3://...)."""

    def under(self, prefix: str) -> Bucket:
        """The same bucket seen from `prefix` ('' or 'a/b/'): keys are relative to it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be narrowed to a prefix")

    @contextmanager
    def writable_root(self) -> Iterator[Path]:
        """A local folder to write files into; when the block ends without error, every file in it
        is stored under its relative path."""
        with tempfile.TemporaryDirectory(prefix="focus-assets-stage-") as folder:
            yield Path(folder)
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    self.upload(path, path.relative_to(folder).as_posix())


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
