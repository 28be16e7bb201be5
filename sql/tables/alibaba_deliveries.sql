-- The delivery ledger: one row per published delivery, written after all its files, so that
-- a delivery is visible to the views only once it is complete.
-- Generated from focus_assets/focus/schema.py by `python -m focus_assets.focus.ddl`: do not edit.
CREATE EXTERNAL TABLE IF NOT EXISTS alibaba_deliveries (
  source            string,
  yearmonth         string,
  batch_ts          string,
  objects           bigint,
  rows_written      bigint,
  rows_quarantined  bigint
)
STORED AS PARQUET
LOCATION '${LAKE_LOCATION}/alibaba_deliveries/'
TBLPROPERTIES ('parquet.compression' = 'ZSTD')
