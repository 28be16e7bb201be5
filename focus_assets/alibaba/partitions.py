import dagster as dg

# A partition is one delivery day of the export, in Alibaba's timezone: Alibaba pushes every
# day's month-to-date snapshot before 18:00 UTC+8. `batch_ts` tells the deliveries of a day apart.
delivery_days = dg.DailyPartitionsDefinition(start_date="2025-12-01", timezone="Asia/Shanghai")
