"""Object stores: the OSS export bucket, the raw S3 bucket and the lake, behind one interface.

The assets read and write through `ObjectStore`; which implementation they get is chosen per
deployment in `focus_assets/deployment.py`. `LocalFolderStore` (the embedded default) keeps each
bucket as a folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg

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

    def describe(self) -> str:
        raise NotImplementedError


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
        return [self._object(p) for p in sorted(start.rglob("*"))
                if p.is_file() and not p.name.startswith(".")]

    def list_folders(self, prefix: str = "") -> list[str]:
        start = self.base / prefix
        if not start.is_dir():
            return []
        return sorted(f"{prefix}{p.name}/" for p in start.iterdir() if p.is_dir() and not p.name.startswith("."))

    def head(self, key: str) -> StoredObject | None:
        path = self.base / key
        return self._object(path) if path.is_file() else None

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.base / key

    def upload(self, source: Path, key: str, etag: str | None = None) -> StoredObject:
        """Copy in, streamed, under a hidden name first and renamed when complete."""
        target = self.base / key
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.staging")
        with open(source, "rb") as reader, open(staging, "wb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
        os.replace(staging, target)
        copied = self._object(target)
        if etag is not None and copied.etag != etag:
            raise OSError(f"{key}: copy has ETag {copied.etag}, source had {etag}")
        return copied

