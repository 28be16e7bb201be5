"""Copying export objects from one bucket to another, byte for byte and at most once: the one
implementation behind both ingestion modes (Dagster's `raw_s3_csv` in `pull` mode, the Function
Compute handler in `push` mode)."""

from __future__ import annotations

import re

from .base import Bucket, StoredObject

# Kept with each copy, so the receiving side can verify it against what the source had.
SOURCE_ETAG, SOURCE_SIZE = "source-etag", "source-size"


def copy_if_changed(
    source: Bucket, target: Bucket, key: str, found: StoredObject | None = None, target_key: str | None = None
) -> bool:
    """Copy `key` from `source` to `target` (under `target_key`, default the same key) unless the
    target already holds it with the same size and source ETag. Streamed through a local file;
    the copy is checked against the source's ETag. Returns whether it copied."""
    found = found or source.head(key)
    if found is None:
        raise FileNotFoundError(f"{source.describe()}{key}: no such object")
    target_key = target_key or key
    existing = target.head(target_key)
    if (
        existing is not None
        and existing.size == found.size
        and (existing.etag == found.etag or target.metadata(target_key).get(SOURCE_ETAG) == found.etag)
    ):
        return False  # the metadata (another request on S3) only when the ETags differ: multipart copies
    # A multipart upload's ETag ("<md5 of md5s>-<parts>") is no content MD5: then size alone is checked.
    content_md5 = found.etag if re.fullmatch(r"[0-9a-f]{32}", found.etag) else None
    with source.local_copy(key) as path:
        copied = target.upload(
            path, target_key, etag=content_md5, metadata={SOURCE_ETAG: found.etag, SOURCE_SIZE: str(found.size)}
        )
    if copied.size != found.size:
        raise OSError(f"{target.describe()}{target_key}: copy has {copied.size} bytes, the source had {found.size}")
    return True


def verify_copy(target: Bucket, key: str, copied: StoredObject) -> str | None:
    """The problem with a copy that another process (the push function) made, or None: its size
    and ETag must be those the source had, as recorded with the copy."""
    recorded = target.metadata(key)
    if not recorded:
        return f"{key}: no record of its source (copied by something else than focus-assets?)"
    if recorded.get(SOURCE_SIZE) != str(copied.size):
        return f"{key}: {copied.size} bytes, the source had {recorded.get(SOURCE_SIZE)}"
    if copied.etag != recorded.get(SOURCE_ETAG) and "-" not in copied.etag:  # multipart ETags are not MD5s
        return f"{key}: ETag {copied.etag}, the source had {recorded.get(SOURCE_ETAG)}"
    return None
