"""What the sensor decides on each tick, without Dagster: which delivery days to run, which objects
wait or are skipped (and why), and the cursor it keeps.

- A tick lists the month folders (one delimiter listing), then the objects of the two latest
  months and of any month not yet final (export_layout.py).
- The cursor keeps, per month still listed, the ETag of every object a run was requested for. An
  object is recorded there only when its run is requested; everything else (waiting to settle,
  not placed, no partition for its day yet) is reported with its reason and looked at again on
  the next tick. Objects delivered before the first partition day are reported once and kept
  apart in the cursor: they are looked at again when the first day moves earlier.
- A delivery may come in several objects that land minutes apart: its run is requested once the
  newest object of the delivery is `settle_seconds` old. A part that lands later is a new object:
  it requests the day again, and the run re-types the whole delivery.
- An object that a run already read (a backfill of its day, with the same ETag) is recorded
  without another run.
- A month leaves the listing (becomes final) once it is past the two latest and every object in
  it has had its run (or was delivered before the first partition day).
- With several export sources (Alibaba accounts), each is planned as above with its own cursor,
  kept inside the sensor's (`plan_sources_tick`); a day that several deliver is one run.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..storage.base import Bucket
from .export_layout import ExportLayout, ExportObject, Unplaced, list_month, month_folders
from .export_sources import DEFAULT_SOURCE, SourceBuckets, raw_prefix, shown

WATCHED_MONTHS = 2  # the month being delivered and the previous one (its final file comes late)


@dataclass(frozen=True)
class RunPlan:
    """One run to request: a delivery day, its run key and the objects it was requested for."""

    day: str
    run_key: str
    keys: tuple[str, ...]


@dataclass
class TickPlan:
    runs: list[RunPlan]
    cursor: str
    waiting: list[Unplaced] = field(default_factory=list)  # deliveries still settling
    skipped: list[Unplaced] = field(default_factory=list)  # cannot run (yet): not placed, no partition
    covered: list[Unplaced] = field(default_factory=list)  # recorded: the latest run of their day read them

    def summary(self) -> str:
        """One line for the sensor's skip reason."""
        parts = []
        if self.waiting:
            parts.append(f"{len(self.waiting)} object(s) waiting for their delivery to settle")
        if self.skipped:
            parts.append(
                f"{len(self.skipped)} object(s) skipped: "
                + "; ".join(map(str, self.skipped[:3]))
                + ("; ..." if len(self.skipped) > 3 else "")
            )
        return "; ".join(parts) or "no new or changed export objects"


def today(now: datetime, source_timezone: str) -> str:
    return now.astimezone(ZoneInfo(source_timezone)).strftime("%Y-%m-%d")


def run_key(day: str, objects: list[ExportObject]) -> str:
    """The day and a digest of the objects requested: the same objects never ask twice; an object
    delivered again (another ETag or time) asks again."""
    return _digest(day, sorted([o.stored.key, o.stored.etag, o.stored.last_modified.isoformat()] for o in objects))


@dataclass
class Cursor:
    """What the sensor remembers between ticks (stored as JSON)."""

    # Per month still listed: key -> ETag of each object whose run was requested.
    watched: dict[str, dict[str, str]] = field(default_factory=dict)
    # Per month no longer listed: the keys skipped there because their day was before the first
    # partition day. Listed again if the first day moves earlier.
    final: dict[str, list[str]] = field(default_factory=dict)
    first_day: str = ""

    @classmethod
    def read(cls, text: str | None) -> Cursor:
        state = json.loads(text) if text else {}
        final = state.get("final", {})
        if isinstance(final, list):  # the cursor of earlier versions: final months without skipped keys
            final = {month: [] for month in final}
        return cls(state.get("watched", {}), final, state.get("first_day", ""))

    def text(self) -> str:
        return json.dumps({"watched": self.watched, "final": self.final, "first_day": self.first_day}, sort_keys=True)


def plan_tick(
    store: Bucket,
    layout: ExportLayout,
    cursor: str | None,
    *,
    now: datetime,
    first_day: str,
    settle_seconds: float,
    day_objects_read: Callable[[str], Mapping[str, str]] = lambda day: {},
) -> TickPlan:
    """The runs to request now (days from `first_day` through today in the source timezone: the
    partitions that exist), and the next cursor. `day_objects_read(day)`: the objects (key: ETag) the
    latest run of the day read, so that objects a backfill already ran are not run again."""
    state = Cursor.read(cursor)
    objects_read: dict[str, Mapping[str, str]] = {}  # asked once a day per tick
    earlier_start = bool(state.first_day) and first_day < state.first_day
    last_day = today(now, layout.source_timezone)
    folders = month_folders(store, layout)
    latest = list(folders)[-WATCHED_MONTHS:]
    plan = TickPlan(runs=[], cursor="")
    following = Cursor(first_day=first_day)
    to_request: dict[str, list[ExportObject]] = defaultdict(list)
    for month, folder in folders.items():
        reopened = month in state.final and bool(state.final[month]) and earlier_start
        if month in state.final and not reopened:
            following.final[month] = state.final[month]
            continue
        placed, unplaced = list_month(store, layout, month, folder)
        if reopened:  # every object but those skipped before the first day had its run
            seen = {o.stored.key: o.stored.etag for o in placed if o.stored.key not in state.final[month]}
        else:
            seen = state.watched.get(month, {})
        plan.skipped += unplaced
        last_change: dict[str, datetime] = {}  # per delivery: its newest object's time
        for item in placed:
            previous = last_change.get(item.delivery_id)
            last_change[item.delivery_id] = (
                max(previous, item.stored.last_modified) if previous else item.stored.last_modified
            )
        recorded, before_first_day, outstanding = {}, [], bool(unplaced)
        for item in placed:
            key = item.stored.key
            if seen.get(key) == item.stored.etag:
                recorded[key] = item.stored.etag
            elif item.day < first_day:
                before_first_day.append(key)
                plan.skipped.append(
                    Unplaced(key, f"delivered on {item.day}, before the first partition day {first_day}")
                )
            elif item.day > last_day:
                outstanding = True
                plan.skipped.append(
                    Unplaced(
                        key,
                        f"delivered on {item.day}, after today ({last_day} in "
                        f"{layout.source_timezone}): its partition does not exist yet",
                    )
                )
            elif objects_read.setdefault(item.day, day_objects_read(item.day)).get(key) == item.stored.etag:
                recorded[key] = item.stored.etag
                plan.covered.append(Unplaced(key, f"already run: the latest run of {item.day} read it"))
            elif (quiet := (now - last_change[item.delivery_id]).total_seconds()) < settle_seconds:
                outstanding = True
                plan.waiting.append(
                    Unplaced(
                        key,
                        f"delivery {item.delivery_id} last changed {quiet:.0f} s ago; "
                        f"requested once unchanged for {settle_seconds:.0f} s",
                    )
                )
            else:
                to_request[item.day].append(item)
                recorded[key] = item.stored.etag
        if month in latest or outstanding:
            following.watched[month] = recorded
        else:  # past the latest months, and every object had its run (or cannot have one)
            following.final[month] = sorted(before_first_day)
    for day, objects in sorted(to_request.items()):
        plan.runs.append(RunPlan(day, run_key(day, objects), tuple(sorted(o.stored.key for o in objects))))
    plan.cursor = following.text()
    return plan


def utc_now() -> datetime:
    return datetime.now(UTC)


def source_cursors(cursor: str | None) -> dict[str, str]:
    """Each export source's cursor inside the sensor's. A cursor of one source is that source's
    own, as it was before sources existed (so a single-source deployment keeps its cursor)."""
    state = json.loads(cursor) if cursor else {}
    if "sources" not in state:
        return {DEFAULT_SOURCE: cursor} if cursor else {}
    return {name: json.dumps(own) for name, own in state["sources"].items()}


def plan_sources_tick(
    sources: list[SourceBuckets],
    cursor: str | None,
    *,
    now: datetime,
    first_day: str,
    settle_seconds: float,
    day_objects_read: Callable[[str], Mapping[str, str]] = lambda day: {},
) -> TickPlan:
    """`plan_tick` for each export source, with its own cursor, as one plan: a day delivered by
    several sources is one run. `day_objects_read(day)`: key (as in the raw bucket) -> ETag."""
    cursors = source_cursors(cursor)
    objects_read = functools.cache(day_objects_read)  # asked once a day per tick, for every source
    plan, following, runs = TickPlan(runs=[], cursor=""), {}, defaultdict(list)
    for source in sources:
        prefix = raw_prefix(source.name)

        def read_by_source(day: str, prefix: str = prefix) -> dict[str, str]:
            return {key[len(prefix) :]: etag for key, etag in objects_read(day).items() if key.startswith(prefix)}

        own = plan_tick(
            source.export,
            source.layout,
            cursors.get(source.name),
            now=now,
            first_day=first_day,
            settle_seconds=settle_seconds,
            day_objects_read=read_by_source,
        )
        following[source.name] = json.loads(own.cursor)
        for notes, into in ((own.waiting, plan.waiting), (own.skipped, plan.skipped), (own.covered, plan.covered)):
            into += [Unplaced(shown(source.name, note.key), note.reason) for note in notes]
        for run in own.runs:
            # A named source's key names it: the same file landing in two accounts asks twice.
            key = run.run_key if source.name == DEFAULT_SOURCE else _digest(run.day, [source.name, run.run_key])
            runs[run.day].append(RunPlan(run.day, key, tuple(shown(source.name, k) for k in run.keys)))
    for day, parts in sorted(runs.items()):
        if len(parts) == 1:  # one source's run keeps its own key
            plan.runs.append(parts[0])
        else:
            key = _digest(day, sorted(p.run_key for p in parts))
            plan.runs.append(RunPlan(day, key, tuple(sorted(k for p in parts for k in p.keys))))
    if list(following) == [DEFAULT_SOURCE]:
        plan.cursor = json.dumps(following[DEFAULT_SOURCE], sort_keys=True)
    else:
        plan.cursor = json.dumps({"sources": following}, sort_keys=True)
    return plan


def _digest(day: str, items: list) -> str:
    return f"{day}:{hashlib.sha1(json.dumps(items).encode()).hexdigest()[:16]}"
