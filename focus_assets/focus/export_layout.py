"""Where Alibaba's deliveries sit in the export bucket, decided in one place for the sensor, the
assets and catch-up: the billing-month folders, the delivery day of each object, the objects a
day's run reads, and the newest delivery of each billing month.

Alibaba writes each day's month-to-date snapshot into a new delivery folder under the folder of
its billing month, e.g. `focus-export/202601/20260105T080000/...`; the final file of a month
arrives on the 2nd-4th of the next one, still in that month's folder. So a day's deliveries are
in the folder of the day's month or of the month before, and a run lists just those two: its
cost does not grow with the history the bucket holds. Month folders may be written `202601`,
`2026-01`, `yearmonth=202601` or `yearmonth=2026-01` (every form the default key pattern
accepts). A bucket without month folders under the prefix is read whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..storage.base import Bucket, StoredObject
from .delivery import Delivery, DeliveryError, delivery_day, normalize_yearmonth, resolve_delivery
from .names import UnsafeNameError, object_key
from .settings import DEFAULT_KEY_PATTERN

EXPORT_SUFFIXES = (".csv", ".csv.gz", ".gz", ".zip")
FLAT = ""  # the one "month" of a bucket without month folders: the whole prefix


@dataclass(frozen=True)
class ExportLayout:
    """Where the Bill Subscription writes and how its keys read."""

    prefix: str = "focus-export/"  # the subscription's directory, with its trailing '/'
    key_pattern: str = DEFAULT_KEY_PATTERN
    source_timezone: str = "Asia/Shanghai"  # delivery days are dates in this timezone


@dataclass(frozen=True)
class ExportObject:
    """An export object placed in time: its delivery (billing month, batch_ts) and delivery day."""

    stored: StoredObject
    delivery: Delivery
    day: str  # YYYY-MM-DD in the source timezone
    folder_month: str  # YYYYMM of the month folder it was listed in, or FLAT

    @property
    def delivery_id(self) -> str:
        """'YYYYMM/batch_ts': one delivery, whatever number of objects it has."""
        return f"{self.delivery.yearmonth or '?'}/{self.delivery.batch_ts}"


@dataclass(frozen=True)
class Unplaced:
    """An object that no run reads, and why (shown to a person, never dropped silently)."""

    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


def month_of_folder(name: str) -> str | None:
    """'202601', '2026-01', 'yearmonth=202601', 'yearmonth=2026-01' -> '202601'; else None."""
    try:
        return normalize_yearmonth(name.strip("/").removeprefix("yearmonth="))
    except DeliveryError:
        return None


def previous_month(yearmonth: str) -> str:
    year, month = int(yearmonth[:4]), int(yearmonth[4:])
    return f"{year - 1}12" if month == 1 else f"{year}{month - 1:02d}"


def months_read_by_day(day: str) -> tuple[str, str]:
    """The billing months whose folders a run of `day` (YYYY-MM-DD) reads: the day's month and the
    month before (whose final file arrives on the 2nd-4th)."""
    month = day[:4] + day[5:7]
    return previous_month(month), month


def month_folders(store: Bucket, layout: ExportLayout) -> dict[str, str]:
    """{YYYYMM: folder} of the month folders under the prefix (one delimiter listing), or
    {FLAT: prefix} when there are none. Folders that are not months are not read (a month
    folder's objects are all a run ever lists)."""
    found: dict[str, str] = {}
    for folder in store.list_folders(layout.prefix):
        month = month_of_folder(folder[len(layout.prefix) :])
        if month is not None:
            found[month] = folder
    return dict(sorted(found.items())) or {FLAT: layout.prefix}


def place(stored: StoredObject, layout: ExportLayout, folder_month: str) -> ExportObject | Unplaced | None:
    """The object in time, an Unplaced with the reason it cannot be, or None for a file that is not
    an export (another suffix)."""
    if not stored.key.lower().endswith(EXPORT_SUFFIXES):
        return None
    try:
        object_key(stored.key)  # refused: a key that would lead out of a folder
        delivery = resolve_delivery(stored.key, layout.key_pattern, last_modified=stored.last_modified)
    except (DeliveryError, UnsafeNameError) as exc:
        return Unplaced(stored.key, str(exc).removeprefix(f"{stored.key}: "))
    day = delivery_day(delivery, stored.last_modified, layout.source_timezone)
    placed = ExportObject(stored, delivery, day, folder_month)
    if folder_month != FLAT and folder_month not in months_read_by_day(day):
        return Unplaced(
            stored.key,
            f"delivered on {day} into the folder of {folder_month}; a run of {day} reads "
            f"only the folders of {' and '.join(months_read_by_day(day))}",
        )
    return placed


def list_month(
    store: Bucket, layout: ExportLayout, month: str, folder: str, etags: bool = True
) -> tuple[list[ExportObject], list[Unplaced]]:
    """The export objects of one month folder (or of the whole prefix, FLAT), placed. etags=False
    where only keys and times matter (a local folder need not hash its files)."""
    placed, unplaced = [], []
    for stored in store.list_objects(folder, etags):
        result = place(stored, layout, month)
        if isinstance(result, ExportObject):
            placed.append(result)
        elif isinstance(result, Unplaced):
            unplaced.append(result)
    return placed, unplaced


def objects_of_days(
    store: Bucket, layout: ExportLayout, days: Iterable[str], etags: bool = True
) -> tuple[list[ExportObject], list[Unplaced]]:
    """The export objects delivered on `days` (YYYY-MM-DD, source timezone), and the objects of the
    folders read that no run can place. Each month folder is listed once, however many days a
    range has."""
    days = set(days)
    wanted = {month for day in days for month in months_read_by_day(day)} | {FLAT}
    found, unplaced = [], []
    for month, folder in month_folders(store, layout).items():
        if month in wanted:
            placed, not_placed = list_month(store, layout, month, folder, etags)
            found += [o for o in placed if o.day in days]
            unplaced += not_placed
    return found, unplaced


def newest_of(objects: Iterable[ExportObject]) -> dict[str, str]:
    """The newest delivery stamp of each billing month among these objects."""
    newest: dict[str, str] = {}
    for item in objects:
        if yearmonth := item.delivery.yearmonth:
            newest[yearmonth] = max(newest.get(yearmonth, ""), item.delivery.batch_ts)
    return newest


def newest_deliveries(store: Bucket, layout: ExportLayout, months: Iterable[str]) -> dict[str, str]:
    """The newest delivery stamp (batch_ts) of each of these billing months in `store`."""
    months = set(months)
    placed = []
    for month, folder in month_folders(store, layout).items():
        if month == FLAT or month in months:
            placed += [
                o for o in list_month(store, layout, month, folder, etags=False)[0] if o.delivery.yearmonth in months
            ]
    return newest_of(placed)


def superseded(objects: list[ExportObject], newest: dict[str, str]) -> tuple[list[ExportObject], list[ExportObject]]:
    """(objects to type, objects of a delivery that a newer one of its month replaces). An object
    whose billing month is known only from its rows is always typed."""
    older = [o for o in objects if o.delivery.yearmonth and o.delivery.batch_ts < newest.get(o.delivery.yearmonth, "")]
    return [o for o in objects if o not in older], older


def delivery_ids(objects: Iterable[ExportObject]) -> list[str]:
    return sorted({o.delivery_id for o in objects})
