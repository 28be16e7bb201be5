"""Several Alibaba accounts in one lake: the export sources, and how a source's name marks its data.

A company may have several Alibaba accounts (a China-site and an international-site account,
separate legal entities, a reseller's customers), each with its own Bill Subscription. Each is an
export source with a name, and the name keeps their data apart wherever two could meet:

- the raw bucket: a source's copies sit under `<name>/` (the `default` source keeps the bucket's
  root, the single-source layout), so two exports with the same keys never overwrite each other;
- the typed files: `<name>@<object>.parquet` in the delivery's partition folder (`default`: just
  `<object>.parquet`; `@` never occurs in a name made from an object key), and the column
  `x_ExportSource` on every row;
- the ledger: a `source` column, and the file `<yearmonth>_<batch_ts>@<name>.parquet`;
- the views: the current snapshot is the latest delivery per source and billing month.

A deployment with no list has one source, `default`, read from the settings it always had: its
raw keys, file names, ledger and views are what they were before sources existed. The list is the
setting FOCUS_EXPORT_SOURCES, JSON (docs/sources.md). Pure Python: no Dagster, no cloud client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from . import names

if TYPE_CHECKING:  # settings.py imports this module, and export_layout.py imports settings.py
    from ..storage.base import Bucket
    from .export_layout import ExportLayout

DEFAULT_SOURCE = "default"
SETTING = "FOCUS_EXPORT_SOURCES"
_MARK = "@"  # between a source's name and the rest of a file name; never in a name from a key


@dataclass(frozen=True)
class ExportSource:
    """One Bill Subscription: where it is read and the name its data carries."""

    name: str = DEFAULT_SOURCE
    """Names the source in x_ExportSource, the ledger, its raw folder and the sensor's cursor."""
    export_prefix: str = "focus-export/"
    """The Bill Subscription's directory in its bucket: billing-month folders sit under it."""
    oss_endpoint: str | None = None
    """OSS endpoint of its export bucket, e.g. https://oss-cn-hangzhou.aliyuncs.com (pull mode)."""
    oss_bucket: str | None = None
    """Its export bucket (pull mode)."""
    oss_prefix: str = ""
    """A prefix in that bucket, before export_prefix."""
    access_key_id_env: str = "OSS_ACCESS_KEY_ID"
    """The environment variable that holds its OSS AccessKey ID (never the key itself)."""
    access_key_secret_env: str = "OSS_ACCESS_KEY_SECRET"
    """The environment variable that holds its OSS AccessKey secret."""
    security_token_env: str | None = None
    """The environment variable of an STS token, for temporary credentials."""
    folder: str | None = None
    """A local folder that plays its export bucket (the local deployment; relative to FOCUS_HOME)."""

    @property
    def raw_prefix(self) -> str:
        return raw_prefix(self.name)


@dataclass(frozen=True)
class SourceBuckets:
    """An export source opened for a run: where it is read and where its copies are."""

    name: str
    export: Bucket  # its export bucket (in push mode, its folder of the raw bucket)
    raw: Bucket | None  # its folder of the raw bucket: the copies, under the export's own keys
    layout: ExportLayout  # where its deliveries sit, in both

    def raw_key(self, key: str) -> str:
        """An export key as it is in the raw bucket: unique across sources."""
        return raw_prefix(self.name) + key


def raw_prefix(source: str) -> str:
    """The source's folder in the raw bucket: '' for the default source."""
    return "" if source == DEFAULT_SOURCE else f"{source}/"


def shown(source: str, text: str) -> str:
    """A delivery, key or note of `source` as a person reads it: '<source>:' before it, except for
    the default source (a single-source deployment shows what it always showed)."""
    return text if source == DEFAULT_SOURCE else f"{source}:{text}"


def source_file_name(source: str, name: str) -> str:
    """A typed or quarantine file's name for `source` (the default source's names are unchanged)."""
    return name if source == DEFAULT_SOURCE else f"{source}{_MARK}{name}"


def source_of_file(name: str) -> str:
    """The source whose data a typed, quarantine or ledger file holds, from its name."""
    stem = name.rsplit("/", 1)[-1].removesuffix(".parquet")
    if _MARK not in stem:
        return DEFAULT_SOURCE
    # typed: '<source>@<object>'; ledger: '<yearmonth>_<batch_ts>@<source>'
    head, tail = stem.split(_MARK, 1)
    return tail if head[:1].isdigit() else head


def ledger_file_name(source: str, yearmonth: str, batch_ts: str) -> str:
    name = f"{yearmonth}_{batch_ts}"
    return f"{name}.parquet" if source == DEFAULT_SOURCE else f"{name}{_MARK}{source}.parquet"


def parse_sources(text: str, setting: str = SETTING) -> list[ExportSource]:
    """The sources of a JSON list of objects, each checked; a clear one-line error names the
    setting, the entry and what is wrong."""
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{setting} is not JSON: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{setting} must be a non-empty JSON list of sources (docs/sources.md)")
    known = {f.name for f in fields(ExportSource)}
    sources = []
    for number, entry in enumerate(entries, 1):
        where = f"{setting}[{number}]"
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValueError(f"{where} must be an object with at least a 'name'")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
        sources.append(checked(ExportSource(**entry), where))
    check_together(sources, setting)
    return sources


def checked(source: ExportSource, where: str = SETTING) -> ExportSource:
    """The source if every name in it follows its rule (focus/names.py), prefixes as folders ('a/b/')."""
    names.export_source(source.name, f"{where}.name")
    source = replace(
        source,
        export_prefix=names.key_prefix(source.export_prefix, f"{where}.export_prefix"),
        oss_prefix=names.key_prefix(source.oss_prefix, f"{where}.oss_prefix"),
    )
    if source.oss_bucket is not None:
        names.bucket(source.oss_bucket, f"{where}.oss_bucket")
    for field_name in ("access_key_id_env", "access_key_secret_env", "security_token_env"):
        if (value := getattr(source, field_name)) is not None:
            names.env_var(value, f"{where}.{field_name}")
    if (source.oss_bucket is None) != (source.oss_endpoint is None):
        raise ValueError(f"{where} ({source.name}): give both oss_endpoint and oss_bucket, or neither")
    if source.folder is not None and source.oss_bucket is not None:
        raise ValueError(f"{where} ({source.name}): a folder or an OSS bucket, not both")
    return source


def check_together(sources: list[ExportSource], setting: str = SETTING) -> None:
    """Names unique, and the raw folders apart: the default source's export prefix (read from the
    raw bucket's root) and another source's raw folder may not contain one another."""
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ValueError(f"{setting}: two sources are named {source.name!r}")
        seen.add(source.name)
    for default in (s for s in sources if s.name == DEFAULT_SOURCE):
        for other in sources:
            folder, prefix = other.raw_prefix, default.export_prefix
            if other.name != DEFAULT_SOURCE and (folder.startswith(prefix) or prefix.startswith(folder)):
                raise ValueError(
                    f"{setting}: the raw folder {folder!r} of {other.name!r} and the default source's export "
                    f"prefix {prefix!r} overlap in the raw bucket: rename {other.name!r}"
                )
