"""OSS trigger events of the push mode: Function Compute is called when Alibaba's Bill
Subscription writes an export object, and copies it to S3 with the pull mode's own copy
(`replication.copy_if_changed`), so both modes leave the same bytes and the same metadata.

Pure: no cloud client, no Dagster. The handler (deploy/function_compute/index.py) hands in the
buckets; tests hand in folders or the real clients on local servers.

The payload (Function Compute, "Formats of event for different triggers", OSS triggers):

    {"events": [{"eventName": "ObjectCreated:PutObject", "region": "cn-hangzhou",
                 "oss": {"bucket": {"name": "..."}, "object": {"key": "...", "size": 1, "eTag": "..."}}}]}

`eventName` has no `oss:` prefix (the trigger's configuration has). The key is used as it is:
Alibaba's documentation and its own sample functions read it without decoding, and nothing in
this project decodes percent-escapes (see focus.names). The event's size and ETag are not
trusted: the object is looked up when it is copied (a late or repeated event then copies the
current object, or nothing).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..focus.names import UnsafeNameError, object_key
from .base import Bucket
from .replication import copy_if_changed

COPY, SYMLINK = "copy", "symlink"
# What each event asks for. An object created by a simple, form, copy or multipart upload is
# complete when its event fires; a symlink names the object whose bytes are the export.
ACTIONS = {
    "ObjectCreated:PutObject": COPY,
    "ObjectCreated:PostObject": COPY,
    "ObjectCreated:CopyObject": COPY,
    "ObjectCreated:CompleteMultipartUpload": COPY,
    "ObjectCreated:PutSymlink": SYMLINK,
}
# Events a trigger on `oss:ObjectCreated:*` also delivers, not copied, with the reason logged.
NOT_COPIED = {
    "ObjectCreated:AppendObject": "an appendable object grows with every append: no event marks it complete",
    "ObjectCreated:InitiateMultipartUpload": "the upload has not completed (CompleteMultipartUpload follows)",
    "ObjectCreated:UploadPart": "the upload has not completed (CompleteMultipartUpload follows)",
    "ObjectCreated:UploadPartCopy": "the upload has not completed (CompleteMultipartUpload follows)",
}
# Alibaba Cloud region IDs (cn-hangzhou, ap-southeast-1, cn-shanghai-finance-1): checked before
# one becomes part of an endpoint's host name.
_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+){1,4}")

logger = logging.getLogger(__name__)


class EventError(ValueError):
    """A payload that is not an OSS trigger event: one line saying what is missing."""


class ReplicationError(RuntimeError):
    """Objects that could not be copied: one line naming the (first) object and why. Raised after
    every event was tried, so that Function Compute retries the invocation."""


@dataclass(frozen=True)
class OssEvent:
    name: str  # e.g. ObjectCreated:PutObject
    bucket: str
    key: str  # as in the bucket, OSS prefix included
    region: str = ""
    size: int | None = None
    etag: str | None = None

    def uri(self) -> str:
        """oss://bucket/key for logs and errors; repr() when the key holds unprintable characters
        (a key may not forge a log line)."""
        uri = f"oss://{self.bucket}/{self.key}"
        return uri if uri.isprintable() else repr(uri)


def parse_events(payload: bytes | str | dict) -> list[OssEvent]:
    """The events of a trigger's payload (bytes, as Function Compute passes it, text or parsed)."""
    if isinstance(payload, (bytes, bytearray)):
        payload = payload.decode("utf-8", errors="replace")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise EventError(f"the event is not JSON ({exc.msg} at position {exc.pos})") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise EventError("the event has no 'events' list: not an OSS trigger event")
    return [_event(number, raw) for number, raw in enumerate(events)]


def _event(number: int, raw: object) -> OssEvent:
    def field(*path: str):
        node = raw
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    found = {
        "eventName": field("eventName"),
        "oss.bucket.name": field("oss", "bucket", "name"),
        "oss.object.key": field("oss", "object", "key"),
    }
    for label, value in found.items():
        if not isinstance(value, str) or not value:
            raise EventError(f"event {number}: {label} is missing or not a string")
    region, size, etag = field("region"), field("oss", "object", "size"), field("oss", "object", "eTag")
    return OssEvent(
        found["eventName"],
        found["oss.bucket.name"],
        found["oss.object.key"],
        region if isinstance(region, str) else "",
        size if isinstance(size, int) else None,
        etag if isinstance(etag, str) else None,
    )


def internal_endpoint(region: str) -> str:
    """The OSS endpoint inside Alibaba's network for a region (no traffic charge, same region as
    the trigger)."""
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise EventError(f"region={region!r} is no Alibaba Cloud region ID; set OSS_ENDPOINT")
    return f"https://oss-{region}-internal.aliyuncs.com"


def ignore_reason(event: OssEvent, oss_prefix: str, export_prefix: str) -> str | None:
    """Why the event is none of this function's business, or None when its object is copied."""
    if event.name not in ACTIONS:
        return NOT_COPIED.get(event.name, "not an object creation this function copies")
    if not event.key.startswith(oss_prefix + export_prefix):
        return f"outside the export prefix {oss_prefix + export_prefix!r}"
    if event.key.endswith("/"):
        return "a folder marker"
    return None


def replicate(
    events: list[OssEvent],
    source_for: Callable[[OssEvent], Bucket],
    target: Bucket,
    export_prefix: str,
    oss_prefix: str = "",
    log: logging.Logger = logger,
) -> dict:
    """Copy each event's object from its OSS bucket (`source_for(event)`, keys relative to
    `oss_prefix`) to `target` under the same relative key, one by one, one log line each.
    Returns {"copied": [keys], "skipped": [keys already there], "ignored": [{"key", "reason"}]};
    raises ReplicationError when any object failed (after trying the others)."""
    summary: dict[str, list] = {"copied": [], "skipped": [], "ignored": []}
    failures = []
    for event in events:
        reason = ignore_reason(event, oss_prefix, export_prefix)
        if reason:
            log.info("ignored %s (%s): %s", event.uri(), event.name, reason)
            summary["ignored"].append({"key": event.key, "reason": reason})
            continue
        try:
            copied = _copy(event, source_for(event), target, oss_prefix, export_prefix, log)
        except (OSError, ValueError) as exc:  # storage refusals, unsafe names: the message says which
            message = f"{event.uri()}: {' '.join(str(exc).split())}"
            log.error("failed %s", message)
            failures.append(message)
            continue
        summary["copied" if copied else "skipped"].append(event.key)
    if failures:
        more = f" (and {len(failures) - 1} more object(s) failed)" if len(failures) > 1 else ""
        raise ReplicationError(failures[0] + more)
    return summary


def _copy(
    event: OssEvent, source: Bucket, target: Bucket, oss_prefix: str, export_prefix: str, log: logging.Logger
) -> bool:
    key = object_key(event.key[len(oss_prefix) :])  # refused: a key that would lead out of a folder
    read_from = key
    if ACTIONS[event.name] == SYMLINK:
        # The symlink's key is the name the subscription gave; its bytes are the target's.
        read_from = source.symlink_target(key)
        if not read_from.startswith(export_prefix):
            raise UnsafeNameError(f"the symlink points outside the export prefix {export_prefix!r}: {read_from!r}")
    found = source.head(read_from)
    if found is None:
        raise FileNotFoundError(f"no such object in {source.describe()} (removed since the event?)")
    copied = copy_if_changed(source, target, read_from, found, target_key=key)
    via = f" (symlink to {read_from})" if read_from != key else ""
    if copied:
        log.info(
            "copied %s%s -> %s%s (%d bytes, ETag %s)", event.uri(), via, target.describe(), key, found.size, found.etag
        )
    else:
        log.info("skipped %s%s: %s%s already has it (same size and ETag)", event.uri(), via, target.describe(), key)
    return copied
