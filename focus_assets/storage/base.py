"""The interface every bucket has, and what they share."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


class Bucket:
    """A bucket, or a prefix in one. Keys are relative to the prefix."""

    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:
        """The objects under `prefix`. etags=False: the ETag may be left empty where it costs
        reading the object (a local folder hashes each file), for listings that need only keys."""
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

    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        """Store a local file under `key`; with `etag`, check that the copy has it (when the
        service's ETag is the content's MD5). `metadata`: user metadata to keep with it."""
        raise NotImplementedError

    def metadata(self, key: str) -> dict[str, str]:
        """The user metadata stored with `key` ({} when none)."""
        return {}

    def delete(self, key: str) -> None:
        """Remove `key` if it is there."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def location(self, key: str = "") -> str:
        """A URI of `key` that polars and the query engines read (a path, or s3://...)."""
        raise NotImplementedError

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
