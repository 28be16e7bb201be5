"""What the Alibaba assets share: daily partitions with one-run backfills, group and owners, one-line
failures, the per-day check spec, and the metadata key the sensor reads back."""

import functools
import warnings

import dagster as dg

from ..focus.export_sources import SourceBuckets
from ..focus.source import ExportFileError
from ..resources.athena import AthenaQueryError, CatalogError
from ..resources.stores import ExportSources, ObjectStore, StorageError
from .export_settings import ExportSettings
from .partitions import delivery_days

GROUP = "alibaba_focus"
OWNERS = ["team:finops-data"]

# Dagster 1.13 marks two features used here as beta or preview: backfill policies and partitioned
# checks. Dagster is pinned and the tests cover both, so their warnings only add noise to every log.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)

# A partition per delivery day, and a backfill of many days in one run (Dagster's per-run cost is
# paid once; each month's newest delivery in the range is typed once).
DAILY = {
    "partitions_def": delivery_days,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
    "owners": OWNERS,
}

# raw_oss_export's metadata: key, bytes, ETag, billing month and batch_ts of each object it listed.
# The sensor reads it back: an object the day's latest run already read is not run again.
OBJECTS_READ = "object list"

# Failures a user acts on (a bad export file, a storage or query refusal): the step fails with the
# one-line message, which names the object or call and the problem, instead of a traceback.
EXPECTED_FAILURES = (ExportFileError, StorageError, AthenaQueryError, CatalogError)


def fails_clearly(asset_function):
    """Turn an expected failure into a dg.Failure carrying its one-line message."""

    @functools.wraps(asset_function)
    def run(*args, **kwargs):
        try:
            return asset_function(*args, **kwargs)
        except EXPECTED_FAILURES as exc:
            raise dg.Failure(description=str(exc), metadata={"error": type(exc).__name__}) from None

    return run


def day_check(name: str, **kwargs) -> dg.AssetCheckSpec:
    """A check of one delivery day: its result belongs to the day's partition. (Unpartitioned, a
    check of a partitioned asset is recorded as planned for the day and then skipped, beside an
    unpartitioned result, so the UI showed every day's check as skipped.)"""
    return dg.AssetCheckSpec(name, partitions_def=delivery_days, **kwargs)


def open_sources(
    export_sources: ExportSources, raw_bucket: ObjectStore | None, export_settings: ExportSettings
) -> list[SourceBuckets]:
    """The deployment's export sources, opened: each one's export bucket, raw folder and layout."""
    raw = raw_bucket.get_bucket() if raw_bucket is not None else None
    return export_sources.open(raw, export_settings.layout)
