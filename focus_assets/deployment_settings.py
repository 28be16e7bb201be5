"""The settings that shape the Dagster definitions themselves (the partitions, the sensor, the
freshness check), read from the environment when the code location loads. No Dagster here: the
partitions module reads them at import. The resources' settings are read in deployment.py; the
README's "Configuration" lists both.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class DeliverySchedule:
    """When deliveries are expected and how quickly the sensor acts on them."""

    start_month: str = "2025-12"  # FOCUS_START_MONTH: the subscription's first billing month (YYYY-MM)
    source_timezone: str = "Asia/Shanghai"  # FOCUS_SOURCE_TIMEZONE: delivery days are dates here
    sensor_interval_seconds: int = 60  # FOCUS_SENSOR_INTERVAL_SECONDS: time between sensor ticks
    settle_seconds: int = 60  # FOCUS_SETTLE_SECONDS: a delivery is run once unchanged this long
    delivery_deadline: str = "20:00"  # FOCUS_DELIVERY_DEADLINE: a day's delivery is overdue after (HH:MM)

    @property
    def first_day(self) -> str:
        """The first delivery-day partition: the 1st of the start month."""
        return f"{self.start_month}-01"

    @property
    def deadline_cron(self) -> str:
        hour, minute = self.delivery_deadline.split(":")
        return f"{int(minute)} {int(hour)} * * *"


def _setting(name: str, default: str, valid, what: str) -> str:
    value = os.environ.get(name, "").strip() or default
    if not valid(value):
        raise ValueError(f"{name}={value!r}: expected {what}")
    return value


def _month(text: str) -> bool:
    try:
        return re.fullmatch(r"\d{4}-\d{2}", text) is not None and date.fromisoformat(f"{text}-01") is not None
    except ValueError:
        return False


def _timezone(text: str) -> bool:
    try:
        ZoneInfo(text)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def _seconds(text: str) -> bool:
    return text.isdigit()


def _clock_time(text: str) -> bool:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    return match is not None and int(match.group(1)) < 24 and int(match.group(2)) < 60


def delivery_schedule() -> DeliverySchedule:
    """The schedule from the environment; a malformed value fails the load, naming it."""
    default = DeliverySchedule()
    return DeliverySchedule(
        start_month=_setting("FOCUS_START_MONTH", default.start_month, _month, "a month, YYYY-MM"),
        source_timezone=_setting(
            "FOCUS_SOURCE_TIMEZONE", default.source_timezone, _timezone, "an IANA timezone, e.g. Asia/Shanghai"
        ),
        sensor_interval_seconds=int(
            _setting("FOCUS_SENSOR_INTERVAL_SECONDS", str(default.sensor_interval_seconds), _seconds, "whole seconds")
        ),
        settle_seconds=int(_setting("FOCUS_SETTLE_SECONDS", str(default.settle_seconds), _seconds, "whole seconds")),
        delivery_deadline=_setting(
            "FOCUS_DELIVERY_DEADLINE", default.delivery_deadline, _clock_time, "a time of day, HH:MM"
        ),
    )
