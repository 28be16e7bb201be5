"""Where a row belongs: the billing month (`yearmonth`) and delivery stamp (`batch_ts`) of an
export object, read from its key.

Alibaba pushes a month-to-date snapshot every day into a new folder, so `batch_ts` orders the
snapshots of one billing month; it is normalised to `YYYYMMDDTHHMMSS` so that text order is time
order. When a key carries no stamp, the fallback is documented in `resolve_delivery`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class DeliveryError(ValueError):
    """A key or stamp that cannot be placed."""


@dataclass(frozen=True)
class Delivery:
    yearmonth: str | None  # YYYYMM billing month in the source timezone; None: taken from the rows
    batch_ts: str  # YYYYMMDDTHHMMSS
    batch_ts_source: str  # "key", "argument" or "last_modified"


_FILENAME_MONTH = re.compile(r"BillingItemDetail_(?P<yearmonth>\d{6})(?!\d)")


def normalize_yearmonth(text: str) -> str:
    digits = text.replace("-", "")
    if not re.fullmatch(r"\d{6}", digits) or not 1 <= int(digits[4:]) <= 12:
        raise DeliveryError(f"not a billing month (YYYYMM): {text!r}")
    return digits


def normalize_batch_ts(text: str) -> str:
    """'2026-01-05', '20260105T080000', '2026-01-05T08:00:00Z', '20260105_0800' → 'YYYYMMDDTHHMMSS'."""
    digits = re.sub(r"\D", "", text)
    if len(digits) not in (8, 12, 14):
        raise DeliveryError(f"not a delivery stamp (date, optionally with time): {text!r}")
    digits = digits.ljust(14, "0")
    try:
        datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise DeliveryError(f"not a delivery stamp: {text!r} ({exc})") from None
    return f"{digits[:8]}T{digits[8:]}"


def stamp_from_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def resolve_delivery(
    key: str,
    key_pattern: str,
    *,
    batch_ts: str | None = None,
    last_modified: datetime | None = None,
) -> Delivery:
    """Billing month and delivery stamp of one export object.

    - `yearmonth`: the pattern's `yearmonth` group; else Alibaba's file name
      (`..._BillingItemDetail_YYYYMM`); else None, and the month is taken from the rows'
      BillingPeriodStart in the source timezone.
    - `batch_ts`: an explicit stamp (the converter's `--batch-ts`) wins; else the pattern's
      `batch_ts` group; else the object's last-modified time in UTC (the moment it was
      delivered), which the report marks as `last_modified`.
    """
    match = re.search(key_pattern, key)
    groups = match.groupdict() if match else {}
    yearmonth = groups.get("yearmonth")
    if yearmonth is None:
        name_match = _FILENAME_MONTH.search(key.rsplit("/", 1)[-1])
        yearmonth = name_match.group("yearmonth") if name_match else None
    yearmonth = normalize_yearmonth(yearmonth) if yearmonth else None

    if batch_ts is not None:
        return Delivery(yearmonth, normalize_batch_ts(batch_ts), "argument")
    if groups.get("batch_ts"):
        return Delivery(yearmonth, normalize_batch_ts(groups["batch_ts"]), "key")
    if last_modified is not None:
        return Delivery(yearmonth, stamp_from_datetime(last_modified), "last_modified")
    raise DeliveryError(f"{key}: no delivery stamp in the key and no last-modified time; pass --batch-ts")


def delivery_day(delivery: Delivery, last_modified: datetime | None, source_timezone: str) -> str:
    """The day (YYYY-MM-DD, in the source timezone) a delivery arrived: the date of a stamp read
    from the key (Alibaba names its folders in its own time, UTC+8), else of the object's
    last-modified time in the source timezone."""
    if delivery.batch_ts_source == "last_modified" and last_modified is not None:
        return last_modified.astimezone(ZoneInfo(source_timezone)).strftime("%Y-%m-%d")
    stamp = delivery.batch_ts
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}"
