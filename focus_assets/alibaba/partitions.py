import dagster as dg

from ..deployment_settings import delivery_schedule

# A partition is one delivery day of the export, in the source timezone (Alibaba's, UTC+8): Alibaba
# pushes every day's month-to-date snapshot before 18:00 there, and `batch_ts` tells the
# deliveries of a day apart. end_offset=1: today's partition exists while today's deliveries
# arrive, so the sensor can run them at once instead of after midnight.
SCHEDULE = delivery_schedule()
delivery_days = dg.DailyPartitionsDefinition(
    start_date=SCHEDULE.first_day, timezone=SCHEDULE.source_timezone, end_offset=1
)
