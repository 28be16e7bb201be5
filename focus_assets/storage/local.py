"""A folder playing a bucket (the embedded default, and tests)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ..focus.names import object_key
from .base import CHUNK, Bucket, StoredObject, md5_of
from .staging import process_alive, staging_path


@functools.lru_cache(maxsize=65_536)
def _content_md5(path: str, size: int, mtime_ns: int, ctime_ns: int, inode: int) -> str:
    """The MD5 of a file as it is now: a changed file has another size, times or inode (a copy is
    renamed into place), so a listing, a head and a copy of one run hash each file once."""
    return md5_of(Path(path))


class LocalFolder(Bucket):
    """Keys are paths under `root/prefix`; the ETag is the MD5 of the content, as S3 and OSS give
    for a single-part upload. Hidden files and folders are staging (and metadata) and never listed."""

    def __init__(self, root: str | Path, prefix: str = ""):
        self.base = Path(root) / prefix

    def under(self, prefix: str) -> LocalFolder:
        return LocalFolder(self.base, prefix)

    def describe(self) -> str:
        return f"folder {self.base}"

    def _object(self, path: Path, etag: bool = True) -> StoredObject:
        stat = path.stat()
        md5 = _content_md5(str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino) if etag else ""
        return StoredObject(
            path.relative_to(self.base).as_posix(),
            stat.st_size,
            md5,
            datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def _path(self, key: str) -> Path:
        return self.base / object_key(key)  # a key never leads out of the folder

    def _metadata_path(self, key: str) -> Path:
        path = self._path(key)
        return path.with_name(f".{path.name}.metadata.json")

    def list_objects(self, prefix: str = "", etags: bool = True) -> list[StoredObject]:
        """The objects whose key starts with `prefix`, as S3 and OSS list them: a prefix need not
        end at a folder (`alibaba_deliveries/202601_`)."""
        start = self.base / prefix.rpartition("/")[0]
        if not start.is_dir():
            return []
        return [
            self._object(p, etags)
            for p in sorted(start.rglob("*"))
            if p.is_file()
            and p.relative_to(self.base).as_posix().startswith(prefix)
            and not any(part.startswith(".") for part in p.relative_to(self.base).parts)
        ]

    def list_folders(self, prefix: str = "") -> list[str]:
        start = self.base / prefix
        if not start.is_dir():
            return []
        return sorted(f"{prefix}{p.name}/" for p in start.iterdir() if p.is_dir() and not p.name.startswith("."))

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        return self._object(path) if path.is_file() else None

    def metadata(self, key: str) -> dict[str, str]:
        path = self._metadata_path(key)
        return json.loads(path.read_text()) if path.is_file() else {}

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
        self._metadata_path(key).unlink(missing_ok=True)

    def upload(
        self, source: Path, key: str, etag: str | None = None, metadata: dict[str, str] | None = None
    ) -> StoredObject:
        """Copy in, streamed, under a hidden name first and renamed when complete."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = staging_path(target)
        with open(source, "rb") as reader, open(staging, "wb") as writer:
            shutil.copyfileobj(reader, writer, CHUNK)
        if metadata:
            self._metadata_path(key).write_text(json.dumps(metadata, sort_keys=True))
        os.replace(staging, target)
        copied = self._object(target)
        if etag is not None and copied.etag != etag:
            raise OSError(f"{key}: copy has ETag {copied.etag}, source had {etag}")
        return copied
