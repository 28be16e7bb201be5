-- The Alibaba bill as it stood at a given delivery stamp (parameter: YYYYMMDDTHHMMSS): for each
-- billing month, the latest delivery published at or before it.
SELECT h.*
FROM alibaba_focus_history AS h
JOIN (
  SELECT yearmonth, max(batch_ts) AS batch_ts
  FROM alibaba_deliveries
  WHERE batch_ts <= ?
  GROUP BY yearmonth
) AS as_of
  ON h.yearmonth = as_of.yearmonth AND h.batch_ts = as_of.batch_ts
