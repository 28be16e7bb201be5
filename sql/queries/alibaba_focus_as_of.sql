-- The Alibaba bill as it stood at a given delivery stamp (parameter: YYYYMMDDTHHMMSS): for each
-- export source and billing month, the latest delivery published at or before it.
SELECT h.*
FROM alibaba_focus_history AS h
JOIN (
  SELECT
    coalesce(source, 'default') AS source,
    yearmonth,
    max(batch_ts) AS batch_ts
  FROM alibaba_deliveries
  WHERE batch_ts <= ?
  GROUP BY coalesce(source, 'default'), yearmonth
) AS as_of
  ON
    h.yearmonth = as_of.yearmonth
    AND h.batch_ts = as_of.batch_ts
    AND coalesce(h.x_ExportSource, 'default') = as_of.source
