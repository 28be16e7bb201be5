"""`new_alibaba_deliveries`: start a run for each delivery day with new or changed export objects.

What a tick lists: the billing-month folders under the export prefix (one delimiter listing),
then the objects of the two latest months and of any month not seen before — never the whole
bucket. Deliveries go into the folder of their billing month, and the last one a month gets is
the final file on the 2nd-4th of the next month, so older months are final and not listed again.
The cursor keeps the ETag of every object of the watched months: a new object, or one delivered
again with another ETag, starts a run; a tick that finds nothing new, or repeats itself, does
not (the run key is the day and the ETags of its objects).
"""

import hashlib
import json
from collections import defaultdict

import dagster as dg

from ..focus.delivery import DeliveryError, delivery_day, resolve_delivery
from ..resources.stores import ObjectStore
from .assets import EXPORT_SUFFIXES, ExportSettings
from .partitions import delivery_days

WATCHED_MONTHS = 2  # the month being delivered and the previous one (its final file comes late)


def plan_runs(store: ObjectStore, settings: ExportSettings, cursor: str | None) -> tuple[list[tuple[str, str]], str, list[str]]:
    """(partition day, run key) per day with new or changed objects, the next cursor, and notes
    about objects that could not be placed."""
    transform = settings.transform_settings()
    state: dict = json.loads(cursor) if cursor else {"watched": {}, "final": []}
    months = [folder[len(settings.export_prefix):].strip("/") for folder in store.list_folders(settings.export_prefix)]
    latest = months[-WATCHED_MONTHS:]
    to_list = [m for m in months if m in latest or (m not in state["watched"] and m not in state["final"])]
    changed: dict[str, dict[str, str]] = defaultdict(dict)
    watched: dict[str, dict[str, str]] = {}
    notes = []
    for month in to_list:
        seen = state["watched"].get(month, {})
        listing = {o.key: o for o in store.list_objects(f"{settings.export_prefix}{month}/")
                   if o.key.lower().endswith(EXPORT_SUFFIXES)}
        for key, stored in listing.items():
            if seen.get(key) == stored.etag:
                continue
            try:
                delivery = resolve_delivery(key, transform.key_pattern, last_modified=stored.last_modified)
            except DeliveryError as exc:
                notes.append(str(exc))
                continue
            changed[delivery_day(delivery, stored.last_modified, transform.source_timezone)][key] = stored.etag
        watched[month] = {key: stored.etag for key, stored in listing.items()}
    final = sorted(set(state["final"]) | {m for m in watched if m not in latest})
    next_cursor = json.dumps({"watched": {m: watched[m] for m in latest if m in watched}, "final": final},
                             sort_keys=True)
    runs = []
    for day, objects in sorted(changed.items()):
        digest = hashlib.sha1(json.dumps(sorted(objects.items())).encode()).hexdigest()[:16]
        runs.append((day, f"{day}:{digest}"))
    return runs, next_cursor, notes


def alibaba_sensor(job) -> dg.SensorDefinition:
    @dg.sensor(name="new_alibaba_deliveries", job=job, minimum_interval_seconds=300,
               description="Starts a run for each delivery day with new or re-delivered export objects.")
    def new_alibaba_deliveries(context: dg.SensorEvaluationContext, export_bucket: ObjectStore,
                               export_settings: ExportSettings):
        runs, cursor, notes = plan_runs(export_bucket, export_settings, context.cursor)
        valid_days = set(delivery_days.get_partition_keys())
        for note in notes:
            context.log.warning(f"not placed: {note}")
        requests = []
        for day, run_key in runs:
            if day not in valid_days:
                context.log.warning(f"{day}: no such delivery-day partition; objects skipped")
                continue
            requests.append(dg.RunRequest(run_key=run_key, partition_key=day))
        if not requests:
            return dg.SensorResult(skip_reason="no new or changed export objects", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return new_alibaba_deliveries
